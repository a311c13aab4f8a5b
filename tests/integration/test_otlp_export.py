"""OTLP export against a small local receiver (no Jaeger or collector can run here)."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from runtime.settings import ServiceSettings
from runtime.telemetry import setup_tracing


class Receiver(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.requests.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args: object) -> None:
        pass


def test_spans_go_to_the_configured_otlp_endpoint():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        provider = setup_tracing(ServiceSettings(service_name="intake", otel_exporter_otlp_endpoint=endpoint))
        with provider.get_tracer("test").start_as_current_span("POST /v1/cases"):
            pass
        assert provider.force_flush(10_000)
        provider.shutdown()
    finally:
        server.shutdown()

    path, content_type, body = Receiver.requests[-1]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    resource = request.resource_spans[0]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    names = [s.name for scope in resource.scope_spans for s in scope.spans]
    assert service == "intake" and names == ["POST /v1/cases"]
