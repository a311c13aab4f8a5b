"""Export the event contracts: one JSON Schema per event version and an AsyncAPI document.

    python -m contracts.export           # (re)write contracts/schemas/*.json, contracts/asyncapi.yaml
    python -m contracts.export --check   # exit 1 listing what is out of date, write nothing

Schema files of older versions are never deleted: they record what was published. A
same-version schema file is never overwritten with a breaking change (contracts.compat);
raise the model's `version` instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from contracts.compat import breaking_changes
from contracts.envelope import CONTENT_TYPE, CloudEvent, Event
from contracts.events import COMMANDS, EVENTS, TOPIC_EVENTS, EscalationRaised, ReferralRequested
from contracts.topics import Topics

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE / "schemas"
ASYNCAPI_FILE = HERE / "asyncapi.yaml"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ASYNCAPI_DOC_VERSION = "0.1.0"  # a constant, so the output never depends on what is installed
COMPONENT_REF = "#/components/schemas/{model}"
# What one partner's inbox carries (its own referrals and the escalations assigned to it).
INBOX_EVENTS: tuple[type[Event], ...] = (ReferralRequested, EscalationRaised)
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

Doc = dict[str, Any]


def all_models() -> list[type[Event]]:
    return sorted({*EVENTS.values(), *COMMANDS.values()}, key=lambda m: (m.event_type, m.version))


def schema_name(model: type[Event], version: int | None = None) -> str:
    return f"{model.event_type}.v{model.version if version is None else version}"


def schema_path(model: type[Event]) -> Path:
    return SCHEMA_DIR / f"{schema_name(model)}.json"


def event_schema(model: type[Event]) -> Doc:
    """The standalone JSON Schema of one event version (what goes in schemas/)."""
    schema = model.model_json_schema()
    return {**schema, "$schema": JSON_SCHEMA_DIALECT, "$id": model.schema_uri(), "title": model.__name__}


def dump_json(doc: Doc) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # no &id001 anchors for shared dicts
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # docstrings stay readable
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(doc: Doc) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


# --- AsyncAPI -------------------------------------------------------------------------

DESCRIPTION = """\
Event backbone of the integrale wijkaanpak: cases, referrals to partners and their responses.

Every record value is a CloudEvents 1.0 event in structured JSON mode
(`application/cloudevents+json`), following the NL GOV profile for CloudEvents:
`id` is a UUID, `source` the URN of the producing service and organisation, `type` is
`nl.samenwijk.<entity>.<event>`, `subject` the case id (also the Kafka record key, so the
events of one case keep their order; partner and agreement events use the partner id, partner
commands the referral id), `time` is RFC 3339, `datacontenttype` is
`application/json` and `dataschema` names the payload schema and its version
(`urn:samenwijk:schema:<event>:<version>`). A new version never means a new topic.
Optional attributes without a value are left out. The W3C `traceparent` travels in the
Kafka headers, not in the envelope.

Within one version fields are only ever added; consumers ignore fields they do not know.
"""


def _message_id(model: type[Event]) -> str:
    return model.__name__


def _subject_field(model: type[Event]) -> str:
    # Ask the model itself which field becomes its subject/key (case_id unless overridden).
    probe = model.model_construct(**{name: f"<{name}>" for name in model.model_fields})
    return probe.subject().strip("<>")


def _headers() -> Doc:
    return {
        "type": "object",
        "properties": {
            "traceparent": {"type": "string", "pattern": TRACEPARENT,
                            "description": "W3C Trace Context of the producing span"},
            "tracestate": {"type": "string", "description": "W3C Trace Context vendor state"},
            "content-type": {"type": "string", "const": CONTENT_TYPE},
        },
    }


def _message(model: type[Event]) -> Doc:
    key = _subject_field(model)
    return {
        "name": model.type_name(),
        "title": model.__name__,
        **({"summary": model.__doc__.strip().splitlines()[0]} if model.__doc__ else {}),
        "contentType": CONTENT_TYPE,
        "headers": _headers(),
        "payload": {"allOf": [
            {"$ref": "#/components/schemas/CloudEvent"},
            {
                "type": "object",
                "required": ["subject", "dataschema"],
                "properties": {
                    "type": {"const": model.type_name()},
                    "subject": {"type": "string", "description": f"`{key}` of the data"},
                    "dataschema": {"const": model.schema_uri()},
                    "data": {"$ref": f"#/components/schemas/{schema_name(model)}"},
                },
            },
        ]},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": f"`{key}` of the data (= CloudEvents subject)"},
            "bindingVersion": "0.5.0",
        }},
    }


def _envelope_schema() -> Doc:
    schema = CloudEvent[dict[str, Any]].model_json_schema()
    # encode() always writes these attributes, even where the model has a default.
    required = {*schema["required"], "specversion", "id", "time", "datacontenttype"}
    return {**schema, "title": "CloudEvent", "required": sorted(required),
            "description": "CloudEvents 1.0 envelope (structured JSON mode, NL GOV profile)"}


def _components(models: list[type[Event]]) -> Doc:
    schemas: Doc = {"CloudEvent": _envelope_schema()}
    for model in models:
        schema = model.model_json_schema(ref_template=COMPONENT_REF)
        for name, sub in schema.pop("$defs", {}).items():
            if schemas.setdefault(name, sub) != sub:
                raise ValueError(f"two different nested models are both called {name}")
        # No $id here: it would rebase the #/components refs inside this schema.
        schemas[schema_name(model)] = {**schema, "title": model.__name__}
    return {
        "schemas": dict(sorted(schemas.items())),
        "messages": {_message_id(m): _message(m) for m in models}
        | {"DeadLetter": _dead_letter_message()},
    }


def _dead_letter_message() -> Doc:
    header = {"type": "string"}
    return {
        "name": "dead-letter",
        "title": "Dead letter",
        "summary": "A record a consumer could not handle, copied unchanged with the reason.",
        "contentType": CONTENT_TYPE,
        "headers": {"type": "object", "properties": {
            "content-type": {"type": "string", "const": CONTENT_TYPE},
            "dlq-reason": {**header, "maxLength": 2000},
            "dlq-service": header,
            "dlq-original-topic": header,
            "dlq-original-partition": header,
            "dlq-original-offset": header,
        }},
        "payload": {"description": "the original record value, byte for byte (it may be malformed)"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "the original record key"},
                               "bindingVersion": "0.5.0"}},
    }


def _refs(models: tuple[type[Event], ...] | list[type[Event]]) -> Doc:
    return {_message_id(m): {"$ref": f"#/components/messages/{_message_id(m)}"} for m in models}


def _channel(address: str, title: str, description: str, messages: Doc) -> Doc:
    channel: Doc = {"address": address, "title": title, "description": description}
    if "{partner_id}" in address:
        channel["parameters"] = {"partner_id": {"description": "id of the partner, as in partner.registered"}}
    return channel | {"messages": messages}


def asyncapi() -> Doc:
    commands = sorted(COMMANDS.values(), key=lambda m: m.event_type)

    def on(topic: str) -> Doc:
        return _refs(TOPIC_EVENTS.get(topic, ()))

    channels: Doc = {
        "cases": _channel(Topics.CASES, "Cases", "Produced by intake.", on(Topics.CASES)),
        "referrals": _channel(Topics.REFERRALS, "Referrals",
                              "Produced by referral; each referral already minimised for its partner.",
                              on(Topics.REFERRALS)),
        "partners": _channel(Topics.PARTNERS, "Partners",
                             "Produced by partners: responses to referrals, partner and agreement state.",
                             on(Topics.PARTNERS)),
        "signals": _channel(Topics.SIGNALS, "Signals", "Produced by reporting (no messages defined yet).",
                            on(Topics.SIGNALS)),
        "partnerInbox": _channel(Topics.partner_inbox("{partner_id}"), "Partner inbox",
                                 "What one partner may see: its referrals and the escalations assigned to it.",
                                 _refs(INBOX_EVENTS)),
        "partnerResponses": _channel(Topics.partner_responses("{partner_id}"), "Partner responses",
                                     "Commands from one Kafka-native partner about its referrals.",
                                     _refs(commands)),
        "deadLetter": _channel(Topics.DEAD_LETTER, "Dead letters",
                               "Records a consumer set aside, with the reason in the headers.",
                               {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}}),
    }
    operations = {  # id: (action, channel, summary)
        "publishCaseEvents": ("send", "cases", "The intake service publishes case events."),
        "publishReferralEvents": ("send", "referrals", "The referral service publishes referrals, escalations."),
        "publishPartnerEvents": ("send", "partners", "The partners service publishes partner-side events."),
        "publishSignals": ("send", "signals", "The reporting service publishes detected signals."),
        "deliverToPartnerInbox": ("send", "partnerInbox", "The partners service fills one partner's inbox."),
        "publishDeadLetters": ("send", "deadLetter", "Any consumer sets aside a record it cannot handle."),
        "receivePartnerResponses": ("receive", "partnerResponses",
                                    "The partners service receives the commands of Kafka-native partners."),
    }

    def operation(action: str, channel: str, summary: str) -> Doc:
        msgs = [{"$ref": f"#/channels/{channel}/messages/{m}"} for m in channels[channel]["messages"]]
        return {"action": action, "channel": {"$ref": f"#/channels/{channel}"}, "summary": summary,
                **({"messages": msgs} if msgs else {})}

    return {
        "asyncapi": "3.0.0",
        "id": "urn:samenwijk",
        "info": {"title": "samenwijk", "version": ASYNCAPI_DOC_VERSION, "description": DESCRIPTION},
        "defaultContentType": CONTENT_TYPE,
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                              "description": "Embedded development broker"}},
        "channels": channels,
        "operations": {op_id: operation(*spec) for op_id, spec in operations.items()},
        "components": _components(all_models()),
    }


# --- files ----------------------------------------------------------------------------

def rendered() -> dict[Path, str]:
    """Every file this module owns, with the content it should have."""
    files = {schema_path(m): dump_json(event_schema(m)) for m in all_models()}
    files[ASYNCAPI_FILE] = dump_yaml(asyncapi())
    return files


def _rel(path: Path) -> str:
    return str(path.relative_to(HERE.parent)) if path.is_relative_to(HERE.parent) else str(path)


def stale() -> list[str]:
    """What differs between the files on disk and the models (empty when up to date)."""
    out = []
    for path, content in rendered().items():
        if not path.exists():
            out.append(f"{_rel(path)}: missing")
        elif path.read_text(encoding="utf-8") != content:
            out.append(f"{_rel(path)}: out of date")
    return out


def refused() -> list[str]:
    """Breaking changes that a rewrite of an existing same-version schema file would publish."""
    out = []
    for model in all_models():
        path = schema_path(model)
        if path.exists():
            old = json.loads(path.read_text(encoding="utf-8"))
            out += [f"{_rel(path)}: {r}" for r in breaking_changes(old, event_schema(model))]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.export", description="Export the event contracts.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if files are out of date")
    args = parser.parse_args(argv)
    if args.check:
        diffs = stale()
        for line in diffs:
            print(line)
        if diffs:
            print("run `make schemas` (python -m contracts.export) and commit the result", file=sys.stderr)
        return 1 if diffs else 0
    if breaking := refused():
        print("refusing to overwrite published schemas with breaking changes; raise the event's version:",
              *breaking, sep="\n  ", file=sys.stderr)
        return 1
    SCHEMA_DIR.mkdir(exist_ok=True)
    for path, content in rendered().items():
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            print(f"wrote {_rel(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
