-- depends: 0001.create-users
-- Tasks, always read through their owner. priority_rank orders low < medium < high.
CREATE TABLE tasks (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title         text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description   text        CHECK (length(description) <= 2000),
    is_completed  boolean     NOT NULL DEFAULT false,
    completed_at  timestamptz,
    priority      text        NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high')),
    priority_rank smallint    GENERATED ALWAYS AS (
                      CASE priority WHEN 'low' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END
                  ) STORED,
    due_date      timestamptz,
    tags          text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 20),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    version       integer     NOT NULL DEFAULT 1 CHECK (version >= 1),
    CHECK (is_completed = (completed_at IS NOT NULL))
);

-- One index per sort key, each led by the owner and ending in id (the tiebreak), so every
-- listing page, at any cursor depth, is an index range scan within one user's tasks.
CREATE INDEX tasks_user_created_idx  ON tasks (user_id, created_at, id);
CREATE INDEX tasks_user_updated_idx  ON tasks (user_id, updated_at, id);
CREATE INDEX tasks_user_title_idx    ON tasks (user_id, title, id);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority_rank, id);
-- Due dates sort with the undated last in either direction: ascending on
-- coalesce(due_date, 'infinity'), descending on coalesce(due_date, '-infinity'). A key that is
-- never null lets the keyset predicate be one row comparison, an index range at any depth.
CREATE INDEX tasks_user_due_asc_idx  ON tasks (user_id, coalesce(due_date, 'infinity'), id);
CREATE INDEX tasks_user_due_desc_idx ON tasks (user_id, coalesce(due_date, '-infinity'), id);
CREATE INDEX tasks_tags_idx          ON tasks USING gin (tags);
