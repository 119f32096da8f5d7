-- Secret grants: a JSON array of `{name, destinations}` per tool. The host injects the named
-- secret into outbound request headers (`{{secret:NAME}}`) only for those destinations.
ALTER TABLE grants ADD COLUMN secrets TEXT NOT NULL DEFAULT '[]';
