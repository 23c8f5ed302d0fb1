-- An applicant's phone and e-mail are kept until MOTCUA_CONTACT_RETENTION_DAYS after the dossier
-- ends, then erased (contacts.rs): `ended_at` is when it ended (rejected at the desk, stopped,
-- finished), `contacts_erased_at` when they went. Events carry no contacts any more; notification
-- asks GetApplicantContacts.
ALTER TABLE dossiers ADD COLUMN ended_at timestamptz;
ALTER TABLE dossiers ADD COLUMN contacts_erased_at timestamptz;
UPDATE dossiers SET ended_at = updated_at WHERE status IN (2, 7, 8, 9);
CREATE INDEX dossiers_contacts_due ON dossiers (ended_at)
    WHERE contacts_erased_at IS NULL AND ended_at IS NOT NULL;
