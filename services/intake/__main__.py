from runtime.main import serve
from services.intake.app import build
from services.intake.config import IntakeSettings

serve(build, IntakeSettings())
