"""The real stack for tests/integration and tests/security: a real Kafka-protocol broker and
real PostgreSQL, both started here on free ports, with the four services as separate
processes.

Every test against it runs twice: on Tansu (memory only, the quick default) and on a
3-node Apache Kafka KRaft cluster (RF 3, min ISR 2). One stack per broker per session;
pytest orders the tests so that only one of the two runs at a time. Without Java or the
Kafka jars the Kafka tier is skipped with the reason printed in the header and the skip
summary. SAMENWIJK_TEST_BROKERS=tansu (or kafka) runs one tier only, for quick runs."""

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from samenwijk_dev import demo
from samenwijk_dev.kafka import KAFKA_VERSION, unavailable_reason
from samenwijk_dev.stack import BROKERS, Stack
from tests.integration.conftest import auth, wait_for


def chosen_brokers() -> tuple[str, ...]:
    chosen = os.environ.get("SAMENWIJK_TEST_BROKERS")
    return tuple(b.strip() for b in chosen.split(",") if b.strip() in BROKERS) if chosen else BROKERS


def pytest_report_header(config: pytest.Config) -> list[str]:
    reason = unavailable_reason() if "kafka" in chosen_brokers() else "not chosen (SAMENWIJK_TEST_BROKERS)"
    kafka = f"Apache Kafka {KAFKA_VERSION}, 3 KRaft nodes" if reason is None else f"SKIPPED: {reason}"
    return [f"integration brokers: {', '.join(chosen_brokers())}; kafka tier: {kafka}"]


@pytest.fixture(scope="session", params=chosen_brokers())
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    broker: str = request.param
    if broker == "kafka" and (reason := unavailable_reason()):
        pytest.skip(f"Apache Kafka tier skipped: {reason}")
    run_dir: Path = tmp_path_factory.mktemp(f"stack-{broker}")
    with Stack.ephemeral(run_dir, broker_kind=broker).running() as s:
        yield s


@pytest.fixture(scope="session")
def tokens(stack: Stack) -> dict[str, str]:
    return demo.dev_tokens(stack.jwt_signing_key)


@pytest.fixture(scope="session")
def routing_ready(stack: Stack, tokens: dict[str, str]) -> None:
    """Referral has learnt every partner's agreement from partners' events."""
    def ready() -> bool:
        r = httpx.get(stack.url("referral") + "/v1/routing/partners", headers=auth(tokens[demo.ADMIN]))
        return r.status_code == 200 and sum(len(p["agreements"]) for p in r.json()) >= len(demo.PARTNERS)

    wait_for(ready, 30, "routing to know the partners")
