-- Every published policy document, newest last. The gateway applies the newest.
CREATE TABLE policies (
    version   INTEGER PRIMARY KEY AUTOINCREMENT,
    digest    TEXT NOT NULL,
    document  TEXT NOT NULL,
    pushed_by TEXT NOT NULL,
    pushed_at TEXT NOT NULL
);
