-- How many values of each type were masked in a message, as a JSON object
-- ({"credit_card": 2}); NULL when nothing was. The values themselves are never stored.
ALTER TABLE audit_events ADD COLUMN masked TEXT;
