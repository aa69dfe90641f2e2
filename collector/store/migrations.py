"""Versioned schema migrations, applied in order at start-up. Append; never edit a shipped one."""

MIGRATIONS: tuple[str, ...] = (
    # 1: enrolment, devices with their next heartbeat deadline, reports, cases, escalation
    """
    CREATE TABLE enrol_tokens (
        id TEXT PRIMARY KEY,
        customer TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        max_uses INTEGER NOT NULL,
        uses INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        customer TEXT NOT NULL,
        hostname TEXT NOT NULL,
        credential_hash TEXT NOT NULL,
        enrolled_at REAL NOT NULL,
        revoked_at REAL,
        interval REAL NOT NULL,
        grace REAL NOT NULL,
        missed_before_case INTEGER NOT NULL,
        last_seen REAL NOT NULL,
        last_seq INTEGER,
        status TEXT NOT NULL DEFAULT 'up',
        missed INTEGER NOT NULL DEFAULT 0,
        next_deadline REAL
    );
    -- The sweeper reads only the head of this index: nothing is scanned when nothing is due.
    CREATE INDEX devices_next_deadline ON devices (next_deadline)
        WHERE next_deadline IS NOT NULL;
    CREATE TABLE reports (
        device_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        received_at REAL NOT NULL,
        sent_at REAL NOT NULL,
        samples INTEGER NOT NULL,
        PRIMARY KEY (device_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE samples (
        device_id TEXT NOT NULL,
        at REAL NOT NULL,
        metric TEXT NOT NULL,
        labels TEXT NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX samples_device_metric_at ON samples (device_id, metric, at);
    CREATE TABLE cases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        severity INTEGER NOT NULL,
        customer TEXT NOT NULL,
        device_id TEXT,
        title TEXT NOT NULL,
        source TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        state TEXT NOT NULL,
        opened_at REAL NOT NULL,
        acknowledged_at REAL,
        acknowledged_by TEXT,
        acknowledged_via TEXT,
        resolved_at REAL,
        closed_at REAL,
        policy TEXT
    );
    -- One case per device and rule while it is not closed (SPEC 5, dedup).
    CREATE UNIQUE INDEX cases_dedup_not_closed ON cases (dedup_key) WHERE state != 'closed';
    CREATE TABLE case_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id INTEGER NOT NULL REFERENCES cases (id),
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX case_events_case ON case_events (case_id, id);
    CREATE TABLE escalation_timers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id INTEGER NOT NULL REFERENCES cases (id),
        step INTEGER NOT NULL,
        run INTEGER NOT NULL,
        due_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        UNIQUE (case_id, step, run)
    );
    CREATE INDEX escalation_timers_due ON escalation_timers (due_at) WHERE state = 'pending';
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id INTEGER NOT NULL REFERENCES cases (id),
        idem_key TEXT NOT NULL UNIQUE,
        condition TEXT NOT NULL,
        channel TEXT NOT NULL,
        recipient TEXT NOT NULL,
        address TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        lease_until REAL,
        last_error TEXT,
        sent_at REAL
    );
    CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
    CREATE INDEX outbox_leased ON outbox (lease_until) WHERE state = 'sending';
    CREATE TABLE collector_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_alive_at REAL NOT NULL
    );
    """,
    # 2: what agents report besides samples: event-log entries, the configuration inventory
    # and what their spool had to throw away.
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        at REAL NOT NULL,
        log TEXT NOT NULL,
        source TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        received_at REAL NOT NULL
    );
    CREATE INDEX events_device_at ON events (device_id, at);
    -- A device's configuration history: a row per change, never one per (daily) report.
    -- Rows are in arrival order, which is the agent's order: it replays its spool in order.
    CREATE TABLE inventory (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        at REAL NOT NULL,
        hash TEXT NOT NULL,
        doc TEXT NOT NULL,
        received_at REAL NOT NULL
    );
    CREATE INDEX inventory_device ON inventory (device_id, id);
    -- Spool drops as rows, one per report that announced any, rather than running totals
    -- on devices: a total says how much was lost but not when, and "when" is what tells
    -- a NOC engineer which stretch of a device's history has gaps. Rows are rare (only
    -- after an outage long enough to fill a spool) and the totals are one indexed SUM.
    CREATE TABLE spool_drops (
        device_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        received_at REAL NOT NULL,
        samples INTEGER NOT NULL,
        events INTEGER NOT NULL,
        transitions INTEGER NOT NULL,
        reports INTEGER NOT NULL,
        PRIMARY KEY (device_id, seq)
    ) WITHOUT ROWID;
    -- The CLI finds a device by its id or by its hostname, which DNS and Windows treat
    -- case-insensitively.
    CREATE INDEX devices_hostname ON devices (hostname COLLATE NOCASE);
    """,
    # 3: the whole case record (SPEC 5): assignee, hold reason, resolution and closure,
    # who did each thing on the timeline and the minutes it took, and flapping.
    # An escalation timer may now also be 'suspended': a resolution pauses the steps that
    # run only while nobody works the case, and a relapse (the problem back within the flap
    # window) resumes them where they were instead of paging afresh.
    """
    ALTER TABLE cases ADD COLUMN assignee TEXT;
    ALTER TABLE cases ADD COLUMN hold_reason TEXT;
    ALTER TABLE cases ADD COLUMN resolved_by TEXT;
    -- 1 when watchkeeper resolved it (a rule cleared, a device reported again), not a person
    ALTER TABLE cases ADD COLUMN resolved_automatically INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE cases ADD COLUMN resolution_actions TEXT;
    -- 1 covered by the SLA, 0 not, NULL not stated
    ALTER TABLE cases ADD COLUMN covered_by_sla INTEGER;
    ALTER TABLE cases ADD COLUMN closed_by TEXT;
    -- Set while the case is flapping: since when
    ALTER TABLE cases ADD COLUMN flapping_since REAL;
    -- Who did it (NULL: watchkeeper itself), and the minutes of work it records
    ALTER TABLE case_events ADD COLUMN actor TEXT;
    ALTER TABLE case_events ADD COLUMN minutes INTEGER NOT NULL DEFAULT 0;
    -- Each fire and clear of a rule, per case: the flap window counts these.
    CREATE TABLE case_transitions (
        case_id INTEGER NOT NULL REFERENCES cases (id),
        at REAL NOT NULL,
        firing INTEGER NOT NULL
    );
    CREATE INDEX case_transitions_case_at ON case_transitions (case_id, at);
    """,
)
