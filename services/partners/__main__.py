from runtime.main import serve
from services.partners.app import build
from services.partners.config import PartnersSettings

serve(build, PartnersSettings())
