-- A change's history line keeps the officer's note verbatim (`note`) beside what the service
-- writes of the change (`summary`). Lines written before this kept one or the other in `note`.
ALTER TABLE history ADD COLUMN summary text NOT NULL DEFAULT '';
