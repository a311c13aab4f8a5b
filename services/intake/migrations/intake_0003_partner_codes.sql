-- depends: intake_0002_follow_and_retain

-- What a partner said back, as the corporation may see it: the response kind and reason
-- code (shown with its label), and the partner's own words only when its agreement names
-- the corporation (partner_note; personal data, erased with the case).
ALTER TABLE case_parts ADD COLUMN response_kind text;
ALTER TABLE case_parts ADD COLUMN response_code text;
ALTER TABLE case_parts ADD COLUMN partner_note  text;
