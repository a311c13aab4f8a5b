"""deploy/kubernetes, checked offline: no kubectl or kustomize here, so the test reads the
kustomizations itself, validates core resources against the Kubernetes schemas
(kubernetes-validate) and the Strimzi resources structurally, and works out from the ACLs
what each Kafka user may read and write."""

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from contracts.topics import Topics
from runtime.recovery import EPOCH_TOPIC
from tests.unit.test_compose import (EMBEDDED_ONLY, NOT_FOR, REPO, SERVICES, init_topics, partner_ids, secret_env_names,
                                     setting_env_names)

KUBE = REPO / "deploy" / "kubernetes"
BASE, OVERLAY = KUBE / "base", KUBE / "overlays" / "example"
STRIMZI = "kafka.strimzi.io/v1beta2"
# What each service consumes and produces (DESIGN.md, Events); every one also writes dead letters.
CONSUMES = {
    "intake": {Topics.REFERRALS, Topics.PARTNERS},
    "referral": {Topics.CASES, Topics.PARTNERS},
    "partners": {Topics.CASES, Topics.REFERRALS},
    "reporting": {Topics.CASES, Topics.REFERRALS, Topics.PARTNERS},
}
PRODUCES = {"intake": {Topics.CASES}, "referral": {Topics.REFERRALS},
            "partners": {Topics.PARTNERS}, "reporting": {Topics.SIGNALS}}
ACL_OPERATIONS = {"Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
                  "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All"}


@dataclass
class Build:
    """What `kustomize build` would see: resources, and the keys of generated ConfigMaps/Secrets."""
    resources: list[dict] = field(default_factory=list)
    config_maps: dict[str, set[str]] = field(default_factory=dict)
    secrets: dict[str, set[str]] = field(default_factory=dict)


def env_file_keys(path: Path) -> set[str]:
    lines = [line.strip() for line in path.read_text().splitlines()]
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def build(directory: Path) -> Build:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    out = Build()
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            inner = build(path)
            out.resources += inner.resources
            out.config_maps.update(inner.config_maps)
            out.secrets.update(inner.secrets)
        else:
            out.resources += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for kind, target in (("configMapGenerator", out.config_maps), ("secretGenerator", out.secrets)):
        for gen in kustomization.get(kind, []):
            keys = set().union(*(env_file_keys(directory / f) for f in gen.get("envs", [])))
            keys |= {literal.split("=", 1)[0] for literal in gen.get("literals", [])}
            target[gen["name"]] = target.get(gen["name"], set()) | keys if gen.get("behavior") == "merge" else keys
    return out


def of_kind(resources: list[dict], kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["kind"] == kind}


def topic_names(resources: list[dict]) -> dict[str, dict]:
    return {t["spec"]["topicName"]: t for t in of_kind(resources, "KafkaTopic").values()}


def allowed(user: dict, operation: str, topics: set[str]) -> set[str]:
    """Topics the user may `operation` (the simple authorizer: literal or prefix match)."""
    result = set()
    for acl in user["spec"]["authorization"]["acls"]:
        res = acl["resource"]
        if res["type"] != "topic" or not ({operation, "All"} & set(acl["operations"])):
            continue
        if res["patternType"] == "literal":
            result |= {t for t in topics if t == res["name"] or res["name"] == "*"}
        else:
            result |= {t for t in topics if t.startswith(res["name"])}
    return result


@pytest.fixture(scope="module")
def example() -> Build:
    return build(OVERLAY)


def test_every_yaml_file_parses():
    files = [*(REPO / "deploy").rglob("*.yaml"), *(REPO / "deploy").rglob("*.yml"), REPO / "compose.yaml"]
    assert len(files) > 5
    for path in files:
        assert list(yaml.safe_load_all(path.read_text())), path


def test_every_path_a_kustomization_names_exists():
    kustomizations = list(KUBE.rglob("kustomization.yaml"))
    assert {k.parent for k in kustomizations} >= {BASE, OVERLAY}
    for k in kustomizations:
        spec = yaml.safe_load(k.read_text())
        for entry in spec.get("resources", []):
            path = k.parent / entry
            assert path.is_file() or (path / "kustomization.yaml").is_file(), f"{k}: {entry}"
        for patch in spec.get("patches", []):
            assert "path" not in patch or (k.parent / patch["path"]).is_file(), f"{k}: {patch}"
        for gen in spec.get("configMapGenerator", []) + spec.get("secretGenerator", []):
            for f in gen.get("envs", []) + gen.get("files", []):
                assert (k.parent / f).is_file(), f"{k}: {f}"


def test_core_resources_match_the_kubernetes_schemas(example):
    core = [r for r in example.resources if not r["apiVersion"].startswith("kafka.strimzi.io")]
    patches = [yaml.safe_load((OVERLAY / p["path"]).read_text())
               for p in yaml.safe_load((OVERLAY / "kustomization.yaml").read_text()).get("patches", [])]
    assert {r["kind"] for r in core} >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for resource in core:
        kubernetes_validate.validate(resource, kubernetes_validate.latest_version(), strict=True)
    for patch in patches:  # a strategic-merge patch must at least name a resource the build has
        assert (patch["kind"], patch["metadata"]["name"]) in {(r["kind"], r["metadata"]["name"]) for r in core}


def test_every_service_is_a_deployment_with_probes_resources_and_an_autoscaler(example):
    deployments = of_kind(example.resources, "Deployment")
    autoscalers = of_kind(example.resources, "HorizontalPodAutoscaler")
    partitions = {name: t["spec"]["partitions"] for name, t in topic_names(example.resources).items()}
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", f"services.{name}"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        hpa = autoscalers[name]
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        # more consumers in a group than partitions would sit idle
        assert hpa["spec"]["maxReplicas"] <= min(partitions[t] for t in CONSUMES[name])


def test_every_setting_is_set_and_secrets_come_from_secrets(example):
    for name, deployment in of_kind(example.resources, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        from_config, from_secret = set(), set()
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                from_config |= example.config_maps[source["configMapRef"]["name"]]
            else:
                from_secret |= example.secrets[source["secretRef"]["name"]]
        for var in container.get("env", []):
            (from_secret if "secretKeyRef" in var.get("valueFrom", {}) else from_config).add(var["name"])
        missing = setting_env_names(name) - EMBEDDED_ONLY - NOT_FOR.get(name, set()) - from_config - from_secret
        assert not missing, f"deploy/ does not set {sorted(missing)} for {name}"
        secrets = secret_env_names(name) | {"SAMENWIJK_KAFKA_SASL_PASSWORD"}
        assert not secrets & from_config, f"{name}: {sorted(secrets & from_config)} belong in a Secret"
        assert not (from_config | from_secret) - setting_env_names(name), f"{name} reads no such setting"


def test_topics_are_replicated_for_a_three_broker_cluster(example):
    topics = topic_names(example.resources)
    (cluster,) = of_kind(example.resources, "Kafka").values()
    expected = set(Topics.shared()) | {EPOCH_TOPIC} | {t for p in partner_ids()
                                                      for t in (Topics.partner_inbox(p), Topics.partner_responses(p))}
    assert set(topics) == expected
    for name, topic in topics.items():
        assert topic["apiVersion"] == STRIMZI
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster["metadata"]["name"]
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == "2"
        # one partition for the broker epoch: only its first record counts (runtime/recovery.py)
        assert isinstance(topic["spec"]["partitions"], int) and topic["spec"]["partitions"] >= (
            1 if name == EPOCH_TOPIC else 3)
    # compose creates the same topics with the same partition counts
    assert init_topics() == {name: t["spec"]["partitions"] for name, t in topics.items()}
    (pool,) = of_kind(example.resources, "KafkaNodePool").values()
    assert pool["spec"]["replicas"] == 3 and "broker" in pool["spec"]["roles"]
    assert cluster["spec"]["kafka"]["config"]["min.insync.replicas"] == 2


def test_kafka_users_are_scram_users_with_well_formed_acls(example):
    users = of_kind(example.resources, "KafkaUser")
    assert users
    listeners = of_kind(example.resources, "Kafka")["samenwijk"]["spec"]["kafka"]["listeners"]
    assert all(listener["authentication"]["type"] == "scram-sha-512" for listener in listeners)
    for name, user in users.items():
        assert user["apiVersion"] == STRIMZI and user["metadata"]["labels"]["strimzi.io/cluster"] == "samenwijk"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["type"] in {"topic", "group", "cluster", "transactionalId"}, name
            assert acl["resource"]["patternType"] in {"literal", "prefix"}, name
            assert set(acl["operations"]) <= ACL_OPERATIONS, name


def test_each_partner_reads_only_its_inbox_and_writes_only_its_responses(example):
    topics = set(topic_names(example.resources))
    users = of_kind(example.resources, "KafkaUser")
    for partner in partner_ids():
        user = users[f"partner-{partner}"]
        assert allowed(user, "Read", topics) == {Topics.partner_inbox(partner)}
        assert allowed(user, "Write", topics) == {Topics.partner_responses(partner)}
        assert allowed(user, "Create", topics) == allowed(user, "Delete", topics) == set()
        # literal grants only: a prefix would also cover topics made later
        assert {a["resource"]["patternType"] for a in user["spec"]["authorization"]["acls"]} == {"literal"}
        groups = [a["resource"] for a in user["spec"]["authorization"]["acls"] if a["resource"]["type"] == "group"]
        assert groups == [{"type": "group", "name": partner, "patternType": "literal"}]
    # and no other partner can read a partner's inbox
    for name, user in users.items():
        if name.startswith("partner-"):
            readable = {t for t in allowed(user, "Read", topics) if fnmatch.fnmatch(t, "samenwijk.partner.*.inbox")}
            assert readable == {Topics.partner_inbox(name.removeprefix("partner-"))}


def test_each_service_may_use_what_it_consumes_and_produces_and_no_more(example):
    topics = set(topic_names(example.resources))
    users = of_kind(example.resources, "KafkaUser")
    partner_topics = {t for t in topics if t.startswith("samenwijk.partner.")}
    for name in SERVICES:
        user = users[f"samenwijk-{name}"]
        own_partner_topics = partner_topics if name == "partners" else set()
        # every service reads the broker's epoch and writes it when it finds none (runtime/recovery.py)
        assert allowed(user, "Read", topics) == CONSUMES[name] | own_partner_topics | {EPOCH_TOPIC}
        assert allowed(user, "Write", topics) == (PRODUCES[name] | {Topics.DEAD_LETTER} | own_partner_topics
                                                  | {EPOCH_TOPIC})
        # ensure_topics lists every shared topic at start-up
        assert allowed(user, "Describe", topics) >= set(Topics.shared())
        groups = {a["resource"]["name"] for a in user["spec"]["authorization"]["acls"]
                  if a["resource"]["type"] == "group"}
        assert groups == {name}  # the consumer group is the service name (runtime/consumer.py)
        deployment = of_kind(example.resources, "Deployment")[name]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (password,) = [v for v in container["env"] if v["name"] == "SAMENWIJK_KAFKA_SASL_PASSWORD"]
        # Strimzi puts the password in a Secret named after the user
        assert password["valueFrom"]["secretKeyRef"] == {"name": user["metadata"]["name"], "key": "password"}
        config = dict(line.split("=", 1) for line in (BASE / "config" / f"{name}.env").read_text().splitlines()
                      if line and not line.startswith("#"))
        assert config["SAMENWIJK_KAFKA_SASL_USERNAME"] == user["metadata"]["name"]
