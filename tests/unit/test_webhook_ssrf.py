"""Webhook SSRF guard: every URL of the attack list is refused at registration outside dev
mode, the delivery connects only to the address it checked after resolution (a DNS answer
that changes after registration is refused), TLS keeps the host name for SNI and
certificate checks, and failures show their class only.

No test here sends traffic anywhere but 127.0.0.1: names resolve through a fake resolver."""

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.partners.adapters.webhook_http import check_registration, failure_class, guarded_client
from services.partners.domain.webhook_target import RefusedTarget, address_class, parse_url

PUBLIC = "93.184.216.34"
# What a name resolves to (the fake DNS of these tests).
DNS: dict[str, list[str]] = {
    "receiver.example": [PUBLIC],
    "receiver6.example": ["2606:2800:220:1:248:1893:25c8:1946"],
    "rebind.attacker.test": ["10.0.0.5"],
    "mixed.attacker.test": [PUBLIC, "127.0.0.1"],
    "metadata.attacker.test": ["169.254.169.254"],
    "v6private.attacker.test": ["fd12:3456::1"],
    "mapped.attacker.test": ["::ffff:10.0.0.1"],
    "cgnat.attacker.test": ["100.64.1.1"],
    "zero.attacker.test": ["0.0.0.0"],
    "localhost": ["127.0.0.1", "::1"],
    "webhook.test": ["127.0.0.1"],
}


async def fake_resolve(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError(f"no such name {host}")
    return DNS[host]


SSRF_URLS = [
    # scheme and shape
    "http://receiver.example/hook",  # plain http to a public host
    "ftp://receiver.example/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "https://user:secret@receiver.example/hook",
    "https://receiver.example@127.0.0.1/hook",
    "https:///nohost",
    "https://recei ver.example/",
    "https://receiver.example\\@127.0.0.1/",
    # loopback
    "https://127.0.0.1/hook",
    "https://127.0.0.2:8443/hook",
    "https://localhost/hook",
    "https://foo.localhost/hook",
    "https://[::1]/hook",
    "http://[::1]:8080/hook",
    # decimal, hex, octal and short IPv4 forms
    "https://2130706433/hook",
    "https://0x7f000001/hook",
    "https://0177.0.0.1/hook",
    "https://017700000001/hook",
    "https://0x7f.0.0.1/hook",
    "https://127.1/hook",
    "https://0x0a.0x00.0x00.0x01/hook",
    "https://012.0.0.1/hook",
    "https://0/hook",
    "https://3232235777/hook",  # 192.168.1.1
    "https://1.2.3.0x4/hook",
    # private (RFC 1918, ULA)
    "https://10.0.0.1/hook",
    "https://172.16.0.1/hook",
    "https://172.31.255.255/hook",
    "https://192.168.1.1/hook",
    "https://192.168.0.1./hook",
    "https://[fd00::1]/hook",
    "https://[fc00::1]/hook",
    # link-local and the cloud metadata address
    "https://169.254.169.254/latest/meta-data/",
    "https://[fe80::1]/hook",
    "https://[fe80::1%25eth0]/hook",
    # CGNAT, unspecified, multicast, broadcast, reserved
    "https://100.64.0.1/hook",
    "https://100.127.255.254/hook",
    "https://0.0.0.0/hook",
    "https://[::]/hook",
    "https://224.0.0.1/hook",
    "https://239.255.255.250/hook",
    "https://[ff02::1]/hook",
    "https://255.255.255.255/hook",
    "https://240.0.0.1/hook",
    "https://198.18.0.1/hook",
    "https://192.0.0.1/hook",
    # IPv4 inside IPv6
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://[::ffff:a9fe:a9fe]/hook",
    "https://[::127.0.0.1]/hook",
    "https://[64:ff9b::a00:1]/hook",
    "https://[2002:7f00:1::]/hook",
    # names that resolve inward
    "https://rebind.attacker.test/hook",
    "https://mixed.attacker.test/hook",
    "https://metadata.attacker.test/hook",
    "https://v6private.attacker.test/hook",
    "https://mapped.attacker.test/hook",
    "https://cgnat.attacker.test/hook",
    "https://zero.attacker.test/hook",
    "https://nxdomain.attacker.test/hook",
]


def register(url: str, dev_mode: bool = False) -> None:
    asyncio.run(check_registration(url, dev_mode, fake_resolve))


@pytest.mark.parametrize("url", SSRF_URLS)
def test_every_ssrf_url_is_refused_at_registration_outside_dev_mode(url: str) -> None:
    with pytest.raises(RefusedTarget):
        register(url)


def test_the_attack_list_is_long_and_unique() -> None:
    assert len(set(SSRF_URLS)) == len(SSRF_URLS) >= 60


@pytest.mark.parametrize("url", ["https://receiver.example/hook", "https://receiver6.example:8443/h?x=1",
                                 f"https://{PUBLIC}/hook", "https://[2606:2800:220:1:248:1893:25c8:1946]/hook"])
def test_https_to_a_public_address_is_accepted(url: str) -> None:
    register(url)


def test_dev_mode_allows_plain_http_to_loopback_only() -> None:
    register("http://127.0.0.1:9/hook", dev_mode=True)
    register("http://localhost:9/hook", dev_mode=True)
    register("https://[::1]:9/hook", dev_mode=True)
    for url in ["http://receiver.example/hook", "http://10.0.0.1/hook", "https://169.254.169.254/",
                "http://2130706433/hook", "http://[::ffff:127.0.0.1]/hook", "http://mixed.attacker.test/"]:
        with pytest.raises(RefusedTarget):
            register(url, dev_mode=True)


def test_refusals_name_the_class() -> None:
    def kind(url: str) -> str:
        with pytest.raises(RefusedTarget) as caught:
            register(url)
        return str(caught.value)

    assert kind("https://169.254.169.254/") == "refused address: link-local"
    assert kind("https://10.1.2.3/") == "refused address: private"
    assert kind("https://100.64.0.1/") == "refused address: shared address space (CGNAT)"
    assert kind("https://[::ffff:10.0.0.1]/") == "refused address: IPv4-mapped IPv6"
    assert kind("https://2130706433/").startswith("non-canonical IP form")
    assert kind("http://receiver.example/").startswith("scheme not allowed")
    assert kind("https://nxdomain.attacker.test/") == "name does not resolve"
    assert address_class(ipaddress.ip_address(PUBLIC)) is None
    assert parse_url("https://Receiver.Example./x", False).host == "receiver.example"


# -- at delivery -----------------------------------------------------------------------------


def post(url: str, resolve, dev_mode: bool = False, ssl_context: ssl.SSLContext | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with guarded_client(5, dev_mode, resolve, ssl_context) as client:
            return await client.post(url, content=b"{}")
    return asyncio.run(go())


def test_rebinding_after_registration_is_refused_at_delivery_before_any_connection() -> None:
    answers = iter([[PUBLIC], ["10.0.0.5"]])  # first for the registration, then for the delivery
    asked: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    asyncio.run(check_registration("https://hooks.partner.test/in", False, rebinding))
    with pytest.raises(RefusedTarget) as caught:
        post("https://hooks.partner.test/in", rebinding)
    assert str(caught.value) == "refused address: private" and asked == ["hooks.partner.test"] * 2
    assert failure_class(caught.value) == "refused address: private"


@pytest.mark.parametrize("url", ["https://2130706433/hook", "https://localhost/hook", "http://receiver.example/",
                                 "https://metadata.attacker.test/", "https://[::ffff:127.0.0.1]/"])
def test_a_stored_url_is_checked_again_at_delivery(url: str) -> None:
    with pytest.raises(RefusedTarget):
        post(url, fake_resolve)


class _Receiver(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.seen.append((self.headers["Host"], self.path))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Receiver.seen.clear()
    yield server
    server.shutdown()


def test_dev_mode_delivers_over_plain_http_to_loopback(receiver: ThreadingHTTPServer) -> None:
    port = receiver.server_address[1]
    assert post(f"http://localhost:{port}/hook", fake_resolve, dev_mode=True).status_code == 204
    assert _Receiver.seen == [(f"localhost:{port}", "/hook")]
    with pytest.raises(RefusedTarget):  # the same receiver outside dev mode
        post(f"http://localhost:{port}/hook", fake_resolve)


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls_keeps_the_host_name_for_sni_and_the_certificate_check(receiver: ThreadingHTTPServer,
                                                                   tmp_path: Path) -> None:
    cert_file, key_file = _certificate(tmp_path, "webhook.test")
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert_file, key_file)
    sni: list[str | None] = []
    server_side.sni_callback = lambda sock, name, ctx: sni.append(name)  # type: ignore[assignment,return-value]
    receiver.socket = server_side.wrap_socket(receiver.socket, server_side=True)
    port = receiver.server_address[1]
    trust = ssl.create_default_context(cafile=str(cert_file))

    # the name resolves to loopback (allowed in dev mode); SNI and the certificate are the name's
    assert post(f"https://webhook.test:{port}/in", fake_resolve, dev_mode=True, ssl_context=trust).status_code == 204
    assert sni == ["webhook.test"] and _Receiver.seen == [(f"webhook.test:{port}", "/in")]

    # a certificate for another name: a TLS failure, reported as its class only
    other_cert, _ = _certificate(tmp_path, "other.test")
    with pytest.raises(httpx.ConnectError) as caught:
        post(f"https://webhook.test:{port}/in", fake_resolve, dev_mode=True,
             ssl_context=ssl.create_default_context(cafile=str(other_cert)))
    assert failure_class(caught.value) == "TLS error"


def test_failures_show_their_class_not_what_answered() -> None:
    assert failure_class(httpx.ReadTimeout("read timed out after 10s from 10.0.0.7:22")) == "timeout"
    assert failure_class(httpx.ConnectError("[Errno 111] Connection refused")) == "connection failed"
    assert failure_class(httpx.RemoteProtocolError("SSH-2.0-OpenSSH_9.6 is not HTTP")) == "connection failed"
