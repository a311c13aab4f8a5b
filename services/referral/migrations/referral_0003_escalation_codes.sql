-- depends: referral_0002_timers_ladder

-- Why a case moved up, as a code, and the partner's response code that led there (a
-- decline): escalations carry codes, never a partner's free text.
ALTER TABLE escalations ADD COLUMN reason_code text;
ALTER TABLE escalations ADD COLUMN response_code text;
