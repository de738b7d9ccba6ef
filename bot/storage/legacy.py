"""The SQLite-only versions' schema steps (PRAGMA user_version 1-5), kept to bring their old files up to the Alembic baseline."""

# Frozen: these ran on shops' files before Alembic; new schema changes are Alembic revisions.
LEGACY_MIGRATIONS: tuple[str, ...] = (
    # 1: the live support model (history kept), token usage, small key/value state
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE support_models (
        id           INTEGER PRIMARY KEY,
        model        TEXT NOT NULL,
        activated_at TEXT NOT NULL,
        activated_by TEXT,
        reason       TEXT NOT NULL
    );
    CREATE TABLE usage (
        id                INTEGER PRIMARY KEY,
        at                TEXT NOT NULL,
        model             TEXT NOT NULL,
        purpose           TEXT NOT NULL,
        prompt_tokens     INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        user_id           INTEGER,
        guild_id          INTEGER
    );
    CREATE INDEX usage_by_time ON usage (at);
    """,
    # 2: examples staff taught, and fine-tuning jobs followed to the end
    """
    CREATE TABLE examples (
        id         INTEGER PRIMARY KEY,
        question   TEXT NOT NULL,
        answer     TEXT NOT NULL,
        author_id  INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE TABLE training_jobs (
        id               TEXT PRIMARY KEY,
        run_id           TEXT NOT NULL UNIQUE,
        base_model       TEXT NOT NULL,
        training_file    TEXT NOT NULL,
        started_by       INTEGER NOT NULL,
        channel_id       INTEGER,
        status           TEXT NOT NULL,
        reported_status  TEXT,
        fine_tuned_model TEXT,
        error            TEXT,
        trained_tokens   INTEGER,
        created_at       TEXT NOT NULL,
        updated_at       TEXT NOT NULL,
        finished_at      TEXT
    );
    CREATE INDEX training_jobs_by_time ON training_jobs (created_at);
    """,
    # 3: who taught, replaced, removed or imported what; cached embedding vectors of examples
    """
    ALTER TABLE examples ADD COLUMN updated_at TEXT;
    CREATE TABLE audit_log (
        id         INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        actor_id   INTEGER,
        action     TEXT NOT NULL,
        example_id INTEGER,
        detail     TEXT NOT NULL
    );
    CREATE TABLE example_vectors (
        example_id  INTEGER NOT NULL REFERENCES examples (id) ON DELETE CASCADE,
        model       TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        vector      BLOB NOT NULL,
        PRIMARY KEY (example_id, model)
    );
    """,
    # 4: bartender conversations: one open session per place, its turns as they happen
    """
    CREATE TABLE bartender_sessions (
        id                 INTEGER PRIMARY KEY,
        scope              TEXT NOT NULL,
        user_id            INTEGER NOT NULL,
        thread_id          INTEGER,
        summary            TEXT NOT NULL DEFAULT '',
        summarized_through INTEGER NOT NULL DEFAULT 0,
        created_at         TEXT NOT NULL,
        last_active_at     TEXT NOT NULL,
        closed_at          TEXT,
        closed_because     TEXT
    );
    CREATE UNIQUE INDEX bartender_sessions_open ON bartender_sessions (scope) WHERE closed_at IS NULL;
    CREATE TABLE bartender_turns (
        id           INTEGER PRIMARY KEY,
        session_id   INTEGER NOT NULL REFERENCES bartender_sessions (id),
        user_message TEXT NOT NULL,
        reply        TEXT,
        status       TEXT NOT NULL,
        tokens       INTEGER NOT NULL,
        created_at   TEXT NOT NULL
    );
    CREATE INDEX bartender_turns_by_session ON bartender_turns (session_id, id);
    """,
    # 5: daily budgets look usage up per user and per server; messages moderation flagged
    """
    CREATE INDEX usage_by_user ON usage (user_id, at);
    CREATE INDEX usage_by_guild ON usage (guild_id, at);
    CREATE TABLE flagged_messages (
        id         INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        user_id    INTEGER,
        guild_id   INTEGER,
        purpose    TEXT NOT NULL,
        categories TEXT NOT NULL,
        content    TEXT NOT NULL
    );
    """,
)
