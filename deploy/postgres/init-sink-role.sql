-- Docker only (deploy/compose.yaml mounts this into the postgres image's /docker-entrypoint-initdb.d):
-- the login the audit sink uses, a member of the insert-only role. `platewatch audit migrate`, run as the
-- owner, finds platewatch_audit_sink already there and grants it SELECT and INSERT on the audit tables,
-- never UPDATE or DELETE. Outside Docker, see the README ("The audit store").
CREATE ROLE platewatch_audit_sink NOLOGIN;
CREATE ROLE platewatch_sink LOGIN PASSWORD 'platewatch-sink' IN ROLE platewatch_audit_sink;
