-- Officers find an applicant's dossiers by phone or by a part of the name, accents and case
-- ignored: the name folded as motcua_domain::text::fold does it (no marks, đ → d, lower case,
-- words single-spaced) is kept beside the name. Rows written before get a lower-cased name,
-- which finds them by an unaccented part only when the name had no marks.
ALTER TABLE dossiers ADD COLUMN applicant_name_folded text NOT NULL DEFAULT '';
UPDATE dossiers SET applicant_name_folded = lower(applicant_name);
CREATE INDEX dossiers_applicant_phone ON dossiers (applicant_phone);
