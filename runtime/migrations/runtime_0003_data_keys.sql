-- depends: runtime_0002_parked_events
-- Crypto-shredding (runtime/sealing.py): one data key per (case, key class) for the personal
-- fields of the events this service produces, wrapped under the service's KEK. Erasure
-- deletes the rows, so every copy of those events anywhere stays unreadable.
CREATE TABLE data_keys (
    kid        text PRIMARY KEY,          -- <producer>/<key_class>/<subject>
    subject    text        NOT NULL,      -- case id (or observation id for one that never joined a case)
    key_class  text        NOT NULL,
    wrapped    bytea       NOT NULL,      -- Fernet(KEK) of the 256-bit AES-GCM key
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_keys_subject ON data_keys (subject);

-- Subjects whose keys were shredded: no key is made for them again (a late or replayed
-- event then goes out without its personal fields).
CREATE TABLE erased_subjects (
    subject   text PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);
