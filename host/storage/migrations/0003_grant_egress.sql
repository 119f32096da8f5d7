-- Egress grants: a JSON array of rule strings (`https://api.example.com`, `tcp://10.0.0.0/8:5432`)
-- per tool, checked by the server against the bundle's request. Existing grants get none.
ALTER TABLE grants ADD COLUMN egress TEXT NOT NULL DEFAULT '[]';
