from runtime.main import serve
from services.referral.app import build
from services.referral.config import ReferralSettings

serve(build, ReferralSettings())
