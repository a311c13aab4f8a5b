"""A reference Kafka-native partner for samenwijk, on a stock client: confluent-kafka
(librdkafka). Copy it and put your own decisions in `decide()`.

It relies only on what samenwijk publishes (docs/partners.md, the JSON Schemas from
`make schemas`): CloudEvents 1.0 in structured JSON mode as record values.

- Reads `samenwijk.partner.<id>.inbox` with subscribe() in its own consumer group.
- Answers each `nl.samenwijk.referral.requested` with commands on
  `samenwijk.partner.<id>.responses` (key: the referral id): accept, or decline with a
  reason; optionally progress and complete right after an accept (a demo of all four).
  Each command (schema version 2) carries a reason code from contracts/reason_codes.py;
  the free text is yours and reaches only the recipients your agreement names.
- At least once: an inbox offset is committed only after its commands are acknowledged
  by the cluster (acks=all, idempotent producer). After a crash the same commands go out
  again with the same CloudEvent ids; samenwijk treats a repeated command as a no-op.
- Other event types (escalation.raised, types added later) are logged and skipped.

    python partner.py --bootstrap kafka:9092 --partner wijkteam-noord \
        --config security.protocol=SASL_SSL --config sasl.mechanism=SCRAM-SHA-512 \
        --config sasl.username=wijkteam-noord --config sasl.password=...
"""

import argparse
import json
import logging
import signal
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

log = logging.getLogger("samenwijk-partner")

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "nl.samenwijk."
# Stable namespace: a command's CloudEvent id is derived from the inbox event it answers,
# so a retry after a crash carries the same id.
COMMAND_IDS = uuid.UUID("6b8f3c52-3f0e-4c1a-9a57-5b1f4f0e6a21")


def inbox_topic(partner_id: str) -> str:
    return f"samenwijk.partner.{partner_id}.inbox"


def responses_topic(partner_id: str) -> str:
    return f"samenwijk.partner.{partner_id}.responses"


@dataclass(frozen=True)
class Command:
    """One of referral.accept | referral.decline | referral.progress | referral.complete."""

    kind: str
    code: str  # a reason code of this kind (contracts/reason_codes.py)
    field: str | None = None  # note (accept, progress), reason (decline), outcome (complete)
    text: str | None = None


def decide(referral: dict[str, Any], decline_categories: set[str], complete: bool) -> list[Command]:
    """Your organisation's decision. Here: decline the listed categories, accept the rest."""
    if referral["category"] in decline_categories:
        return [Command("decline", "buiten_werkgebied", "reason",
                        f"Valt buiten ons werkgebied ({referral['category']})")]
    commands = [Command("accept", "aangenomen", "note", "Opgepakt door het team")]
    if complete:
        commands += [Command("progress", "contact_gelegd", "note", "Huisbezoek gedaan"),
                     Command("complete", "opgelost", "outcome", "Afgerond: hulp ingezet")]
    return commands


def command_event(partner_id: str, inbox_event_id: str, referral_id: str, command: Command) -> dict[str, Any]:
    data: dict[str, Any] = {"referral_id": referral_id, "code": command.code}
    if command.text is not None:
        data[command.field or "note"] = command.text
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid5(COMMAND_IDS, f"{inbox_event_id}:{command.kind}")),
        "source": f"urn:nld:partner:{partner_id}",
        "type": f"{TYPE_PREFIX}referral.{command.kind}",
        "subject": referral_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "dataschema": f"urn:samenwijk:schema:referral.{command.kind}:2",
        "data": data,
    }


class Partner:
    def __init__(self, bootstrap: str, partner_id: str, group: str | None = None,
                 decline_categories: set[str] | None = None, complete: bool = False,
                 extra: dict[str, str] | None = None, offset_reset: str = "earliest") -> None:
        self.partner_id = partner_id
        self.decline_categories = decline_categories or set()
        self.complete = complete
        common = {"bootstrap.servers": bootstrap, **(extra or {})}
        self.consumer = Consumer({
            **common,
            # the group the partner's Kafka user may read (docs/operations.md, "Adding a partner")
            "group.id": group or partner_id,
            # A new group starts at the oldest referral still in the inbox.
            "auto.offset.reset": offset_reset,
            "enable.auto.commit": False,  # commit after the answer is acknowledged
            "enable.partition.eof": False,
        })
        self.producer = Producer({**common, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
        self.offset_reset = offset_reset
        self.running = True
        self.answered = 0

    @staticmethod
    def pin_start(consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start "now" durably: commit the end of each partition this group never committed.
        Plain auto.offset.reset=latest resolves "now" again after a restart, so referrals
        that came in while it was down on a partition it had never read would be skipped."""
        fresh = [tp for tp in consumer.committed(partitions, timeout=10) if tp.offset < 0]
        for tp in fresh:
            tp.offset = consumer.get_watermark_offsets(tp, timeout=10)[1]
        if fresh:
            consumer.commit(offsets=fresh, asynchronous=False)

    def run(self) -> None:
        def assigned(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            if self.offset_reset == "latest":
                self.pin_start(consumer, partitions)
            log.info("assigned %d partitions of %s", len(partitions), inbox_topic(self.partner_id))

        self.consumer.subscribe([inbox_topic(self.partner_id)], on_assign=assigned)
        log.info("reading %s", inbox_topic(self.partner_id))
        try:
            while self.running:
                msg = self.consumer.poll(1.0)
                if msg is None:
                    continue
                if msg.error():
                    log.warning("consumer error: %s", msg.error())
                    continue
                self.handle(msg)
                self.consumer.commit(message=msg, asynchronous=False)
        finally:
            self.producer.flush(30)
            self.consumer.close()  # leaves the group at once (no wait for a session timeout)

    def handle(self, msg: Message) -> None:
        try:
            event = json.loads(msg.value())
            kind = event["type"].removeprefix(TYPE_PREFIX)
        except (TypeError, ValueError, KeyError, AttributeError):
            log.error("skipping a record that is not a CloudEvent at %s[%d]@%d",
                      msg.topic(), msg.partition(), msg.offset())
            return
        if kind != "referral.requested":
            log.info("noted %s %s", kind, event.get("subject"))
            return
        referral = event["data"]
        for command in decide(referral, self.decline_categories, self.complete):
            self.send(command_event(self.partner_id, event["id"], referral["referral_id"], command))
        # Until the cluster has acknowledged every command, the inbox offset stays where it was.
        if self.producer.flush(30) > 0:
            raise KafkaException(f"commands for {referral['referral_id']} not acknowledged in 30 s")
        self.answered += 1
        log.info("answered referral %s (%s)", referral["referral_id"], referral["category"])

    def send(self, command: dict[str, Any]) -> None:
        def delivered(err: Any, _msg: Message) -> None:
            if err is not None:
                log.error("command %s not delivered: %s", command["id"], err)

        self.producer.produce(responses_topic(self.partner_id), json.dumps(command).encode(),
                              key=command["subject"].encode(), headers=[("content-type", CONTENT_TYPE)],
                              on_delivery=delivered)

    def stop(self, *_: Any) -> None:
        self.running = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="host:port[,host:port…]")
    parser.add_argument("--partner", required=True, help="your partner id, e.g. wijkteam-noord")
    parser.add_argument("--group", help="consumer group (default: your partner id)")
    parser.add_argument("--decline-category", action="append", default=[], help="decline referrals of this category")
    parser.add_argument("--complete", action="store_true", help="after accepting, report progress and complete")
    parser.add_argument("--offset-reset", choices=("earliest", "latest"), default="earliest",
                        help="where a new group starts: the oldest referral kept (default), or now")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="librdkafka setting (security.protocol, sasl.*, ssl.*)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    extra = dict(item.split("=", 1) for item in args.config)
    partner = Partner(args.bootstrap, args.partner, args.group, set(args.decline_category), args.complete,
                      extra, args.offset_reset)
    signal.signal(signal.SIGTERM, partner.stop)
    signal.signal(signal.SIGINT, partner.stop)
    partner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
