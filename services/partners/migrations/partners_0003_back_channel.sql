-- depends: partners_0002_delivery

-- Who a partner's free text may reach besides the partner itself (default nobody); the
-- codes of its responses. The texts stay in referrals.response / outcome / progress
-- (personal data: erased with the case).
ALTER TABLE agreements ADD COLUMN free_text_recipients text[] NOT NULL DEFAULT '{}';
ALTER TABLE referrals ADD COLUMN response_code text;   -- accept or decline code
ALTER TABLE referrals ADD COLUMN outcome_code text;    -- complete code
-- progress entries carry {"code", "note", "at"}
