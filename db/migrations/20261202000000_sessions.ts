import type { Knex } from 'knex';

/**
 * Sessions (one per login, one per device) with rotating refresh tokens. An access token
 * belongs to a session, and ending a session (deleting its row) ends its access and refresh
 * tokens with it. Every token that existed before gets a session of its own, lasting as long
 * as the token: nobody is logged out by the upgrade, and the device list shows those logins
 * too. They have no refresh token, so they end when the token expires.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE sessions (
      id bigserial PRIMARY KEY,
      user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      device text,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz NOT NULL DEFAULT now(),
      -- The session ends then unless a refresh moves it out (its refresh token's expiry).
      expires_at timestamptz NOT NULL,
      CONSTRAINT sessions_device_format CHECK (char_length(device) BETWEEN 1 AND 100 AND device !~ '[\\x01-\\x1F\\x7F-\\x9F]')
    );
    CREATE INDEX sessions_user_id_idx ON sessions (user_id, id);

    -- Every refresh token a session was given; an exchanged one stays, marked rotated, so
    -- that its reuse is recognised. successor holds the pair it was exchanged for,
    -- encrypted under a key only the exchanged token derives (the grace window's answer).
    CREATE TABLE refresh_tokens (
      id bigserial PRIMARY KEY,
      session_id bigint NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
      token_hash bytea NOT NULL CONSTRAINT refresh_tokens_token_hash_key UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      rotated_at timestamptz,
      replaced_by bigint REFERENCES refresh_tokens (id) ON DELETE SET NULL,
      successor bytea,
      CONSTRAINT refresh_tokens_rotation CHECK ((rotated_at IS NULL) = (successor IS NULL))
    );
    CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

    ALTER TABLE tokens ADD COLUMN session_id bigint REFERENCES sessions (id) ON DELETE CASCADE;
  `);
  // One session per existing token, carrying the token's times (the CTE is computed once).
  await knex.raw(`
    WITH pairs AS (
      SELECT id AS token_id, nextval('sessions_id_seq') AS session_id, user_id, created_at, expires_at FROM tokens
    ), made AS (
      INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at)
      SELECT session_id, user_id, created_at, created_at, expires_at FROM pairs
    )
    UPDATE tokens t SET session_id = pairs.session_id FROM pairs WHERE pairs.token_id = t.id;
    ALTER TABLE tokens ALTER COLUMN session_id SET NOT NULL;
    CREATE INDEX tokens_session_id_idx ON tokens (session_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE tokens DROP COLUMN session_id;
    DROP TABLE refresh_tokens;
    DROP TABLE sessions;
  `);
}
