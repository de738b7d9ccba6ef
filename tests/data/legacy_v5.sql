-- A database made by bot/db.py at commit d2e8a67 (schema version 5), dumped with sqlite3 iterdump: the upgrade test opens it.
BEGIN TRANSACTION;
CREATE TABLE audit_log (
        id         INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        actor_id   INTEGER,
        action     TEXT NOT NULL,
        example_id INTEGER,
        detail     TEXT NOT NULL
    );
INSERT INTO "audit_log" VALUES(1,'2026-12-02T18:43:52.102800+00:00',NULL,'import',1,'배송은 얼마나 걸리나요?');
INSERT INTO "audit_log" VALUES(2,'2026-12-02T18:43:52.102921+00:00',NULL,'import',2,'구독 방법 알려주세요');
INSERT INTO "audit_log" VALUES(3,'2026-12-02T18:43:52.102970+00:00',NULL,'import-file',NULL,'sample: 2 added, 0 replaced');
INSERT INTO "audit_log" VALUES(4,'2026-12-02T18:43:52.103325+00:00',1234567890123456789,'teach',3,'환불 되나요?');
INSERT INTO "audit_log" VALUES(5,'2026-12-02T18:43:52.103598+00:00',1234567890123456789,'replace',3,'구매 후 7일 안에 환불돼요.');
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
INSERT INTO "bartender_sessions" VALUES(1,'channel:42:user:7',7,NULL,'손님은 진을 좋아함',1,'2026-12-02T18:43:52.104154+00:00','2026-12-02T18:43:52.104447+00:00',NULL,NULL);
INSERT INTO "bartender_sessions" VALUES(2,'thread:99',8,99,'',0,'2026-12-02T18:43:52.105326+00:00','2026-12-02T18:43:52.105574+00:00',NULL,NULL);
CREATE TABLE bartender_turns (
        id           INTEGER PRIMARY KEY,
        session_id   INTEGER NOT NULL REFERENCES bartender_sessions (id),
        user_message TEXT NOT NULL,
        reply        TEXT,
        status       TEXT NOT NULL,
        tokens       INTEGER NOT NULL,
        created_at   TEXT NOT NULL
    );
INSERT INTO "bartender_turns" VALUES(1,1,'진 좋아해요','김렛 어때요?','done',12,'2026-12-02T18:43:52.104447+00:00');
INSERT INTO "bartender_turns" VALUES(2,2,'pending one',NULL,'pending',3,'2026-12-02T18:43:52.105574+00:00');
CREATE TABLE example_vectors (
        example_id  INTEGER NOT NULL REFERENCES examples (id) ON DELETE CASCADE,
        model       TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        vector      BLOB NOT NULL,
        PRIMARY KEY (example_id, model)
    );
INSERT INTO "example_vectors" VALUES(3,'text-embedding-3-small','fp1',X'00010203');
CREATE TABLE examples (
        id         INTEGER PRIMARY KEY,
        question   TEXT NOT NULL,
        answer     TEXT NOT NULL,
        author_id  INTEGER,
        created_at TEXT NOT NULL
    , updated_at TEXT);
INSERT INTO "examples" VALUES(1,'배송은 얼마나 걸리나요?','보통 2~3일 걸려요.',NULL,'2026-12-02T18:43:52.102584+00:00',NULL);
INSERT INTO "examples" VALUES(2,'구독 방법 알려주세요','앱의 구독 탭에서 신청하세요.',NULL,'2026-12-02T18:43:52.102584+00:00',NULL);
INSERT INTO "examples" VALUES(3,'환불 되나요?','구매 후 7일 안에 환불돼요.',1234567890123456789,'2026-12-02T18:43:52.103123+00:00','2026-12-02T18:43:52.103508+00:00');
CREATE TABLE flagged_messages (
        id         INTEGER PRIMARY KEY,
        at         TEXT NOT NULL,
        user_id    INTEGER,
        guild_id   INTEGER,
        purpose    TEXT NOT NULL,
        categories TEXT NOT NULL,
        content    TEXT NOT NULL
    );
INSERT INTO "flagged_messages" VALUES(1,'2026-12-02T18:43:52.107668+00:00',7,NULL,'support','harassment','bad words');
CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
INSERT INTO "meta" VALUES('sample_examples_seeded','data/sample_dataset.jsonl');
CREATE TABLE support_models (
        id           INTEGER PRIMARY KEY,
        model        TEXT NOT NULL,
        activated_at TEXT NOT NULL,
        activated_by TEXT,
        reason       TEXT NOT NULL
    );
INSERT INTO "support_models" VALUES(1,'ft:gpt-4.1-mini:shop::old','2026-12-02T18:43:52.107138+00:00','1234567890123456789','fine-tuning job ftjob-old succeeded');
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
INSERT INTO "training_jobs" VALUES('ftjob-old','run-1','gpt-4.1-mini-2025-04-14','file-1',1234567890123456789,555,'succeeded','succeeded','ft:gpt-4.1-mini:shop::old',NULL,1000,'2026-12-02T18:43:52.105799+00:00','2026-12-02T18:43:52.107032+00:00',NULL);
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
INSERT INTO "usage" VALUES(1,'2026-12-02T18:43:52.107538+00:00','gpt-5-mini','support',120,30,1234567890123456789,987654321098765432);
CREATE INDEX usage_by_time ON usage (at);
CREATE INDEX training_jobs_by_time ON training_jobs (created_at);
CREATE UNIQUE INDEX bartender_sessions_open ON bartender_sessions (scope) WHERE closed_at IS NULL;
CREATE INDEX bartender_turns_by_session ON bartender_turns (session_id, id);
CREATE INDEX usage_by_user ON usage (user_id, at);
CREATE INDEX usage_by_guild ON usage (guild_id, at);
COMMIT;
PRAGMA user_version = 5;
