from runtime.main import serve
from services.reporting.app import build
from services.reporting.config import ReportingSettings

serve(build, ReportingSettings())
