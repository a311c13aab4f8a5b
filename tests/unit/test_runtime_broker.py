"""Broker security settings map onto what aiokafka needs for a real cluster."""

from faststream.kafka.security import parse_security

from runtime.broker import security
from runtime.settings import ServiceSettings


def test_embedded_broker_needs_no_security():
    assert parse_security(security(ServiceSettings())) == {}


def test_scram_over_tls_for_a_cluster():
    settings = ServiceSettings(kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="svc-intake",
                               kafka_sasl_password="s3cret", kafka_use_tls=True)
    params = parse_security(security(settings))
    assert params["security_protocol"] == "SASL_SSL"
    assert params["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (params["sasl_plain_username"], params["sasl_plain_password"]) == ("svc-intake", "s3cret")
    assert params["ssl_context"] is not None  # aiokafka refuses TLS without one


def test_scram_without_tls_is_sasl_plaintext():
    settings = ServiceSettings(kafka_sasl_mechanism="SCRAM-SHA-256", kafka_sasl_username="u", kafka_sasl_password="p")
    assert parse_security(security(settings))["security_protocol"] == "SASL_PLAINTEXT"


def test_tls_without_sasl():
    assert parse_security(security(ServiceSettings(kafka_use_tls=True)))["security_protocol"] == "SSL"


async def test_a_tls_client_can_be_built():
    from aiokafka import AIOKafkaProducer

    settings = ServiceSettings(kafka_use_tls=True, kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="u",
                               kafka_sasl_password="p")
    AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **parse_security(security(settings)))  # no "ssl_context is mandatory"
