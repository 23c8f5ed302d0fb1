-- Search matches a procedure's keywords (motcua.common.v1.Procedure.keywords, optional) beside
-- its name and its field's name: folded as `folded_name` is (no marks, lower case, words joined by
-- spaces). Versions published before keywords existed have none.
ALTER TABLE procedures ADD COLUMN folded_keywords text NOT NULL DEFAULT '';
