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
    # Acknowledgement everywhere: each acknowledgement link is recorded when its page is
    # queued and consumed at most once, and API tokens carry a person and a role (SPEC 8).
    """
    CREATE TABLE ack_links (
        id TEXT PRIMARY KEY,  -- the random link id inside the signed link
        case_id INTEGER NOT NULL REFERENCES cases (id),
        recipient TEXT NOT NULL,
        channels TEXT NOT NULL,  -- the channels the page carrying it went by, e.g. "email,sms"
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        -- Set once, by the POST that acknowledged (or found the case already acknowledged)
        used_at REAL,
        used_from TEXT
    );
    CREATE INDEX ack_links_case ON ack_links (case_id);
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,  -- public, names the token in `api-token list` and `revoke`
        person TEXT NOT NULL,
        role TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,  -- SHA-256 of the whole token, never the token
        created_at REAL NOT NULL,
        last_used_at REAL,
        revoked_at REAL
    );
    """,
    # One outage, one case: devices and enrolment tokens carry an optional site, and a
    # device case can be attached to the "site unreachable" case that pages for it.
    """
    ALTER TABLE enrol_tokens ADD COLUMN site TEXT;
    ALTER TABLE devices ADD COLUMN site TEXT;
    -- When a device goes down the sweeper reads the rest of its site through this index.
    CREATE INDEX devices_customer_site ON devices (customer, site) WHERE site IS NOT NULL;
    -- The site case a device case belongs to (NULL: it stands, and escalates, on its own)
    ALTER TABLE cases ADD COLUMN parent_case_id INTEGER REFERENCES cases (id);
    CREATE INDEX cases_parent ON cases (parent_case_id) WHERE parent_case_id IS NOT NULL;
    -- Attaching a case reads and cancels its messages by state without scanning the outbox.
    CREATE INDEX outbox_case ON outbox (case_id, state);
    """,
    # Maintenance windows: one-off or recurring, per device, site or customer. A case opened
    # inside one pages nobody: it is marked with the window and occurrence that keep it
    # quiet, and when that occurrence ends what still fails is paged in one summary.
    """
    CREATE TABLE maintenance_windows (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        scope TEXT NOT NULL,  -- device, site or customer
        target TEXT NOT NULL,  -- the device id, the site name or the customer name
        -- One-off: its start. Recurring: when the schedule took effect.
        starts_at REAL NOT NULL,
        ends_at REAL,  -- one-off only
        every TEXT,  -- recurring only: daily, or a weekday name
        at_time TEXT,  -- recurring only: HH:MM on the wall clock of time_zone
        duration REAL,  -- recurring only: seconds
        time_zone TEXT NOT NULL,  -- IANA name, e.g. Europe/London
        reason TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        ended_at REAL,  -- ended by hand, for good
        ended_by TEXT
    );
    -- A trigger looks up the windows naming its device, site or customer.
    CREATE INDEX maintenance_windows_target ON maintenance_windows (target);
    -- An occurrence (named by its scheduled start) that kept cases quiet or was ended early
    -- by hand. processed_at is set, in the transaction that queues the summary, when its
    -- end has been dealt with: a restart never deals with it twice.
    CREATE TABLE maintenance_occurrences (
        window_id INTEGER NOT NULL REFERENCES maintenance_windows (id),
        occurrence REAL NOT NULL,
        ended_at REAL,
        ended_by TEXT,
        processed_at REAL,
        PRIMARY KEY (window_id, occurrence)
    );
    CREATE INDEX maintenance_occurrences_pending ON maintenance_occurrences (window_id)
        WHERE processed_at IS NULL;
    -- Set while a maintenance window keeps the case quiet, and kept on a case that resolved
    -- inside it (it never paged, so if the problem comes back it pages afresh).
    ALTER TABLE cases ADD COLUMN suppressed_by INTEGER REFERENCES maintenance_windows (id);
    ALTER TABLE cases ADD COLUMN suppressed_occurrence REAL;
    CREATE INDEX cases_suppressed ON cases (suppressed_by, suppressed_occurrence)
        WHERE suppressed_by IS NOT NULL;
    """,
    # Every channel: what a queued message is (page, notice, status... each channel renders
    # it its own way), the acknowledgement link it carries, and the recipient's channels
    # still to try, in order, should this one fail for good (JSON [[channel, address], ...]).
    # Rows queued before this migration were all email.
    """
    ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'page';
    ALTER TABLE outbox ADD COLUMN ack_url TEXT;
    ALTER TABLE outbox ADD COLUMN fallback TEXT NOT NULL DEFAULT '[]';
    """,
    # SLA clocks on cases (SPEC 5): the target and the customer calendar copied onto the case
    # when it opens (a later edit of sla.toml moves no open case's deadlines), the clock's
    # start (the opening, or the latest retrigger: a new episode), the first response, and
    # the four deadlines of the current episode. Cases opened before this have no SLA clock.
    """
    ALTER TABLE cases ADD COLUMN sla_target TEXT;
    ALTER TABLE cases ADD COLUMN sla_calendar TEXT;
    ALTER TABLE cases ADD COLUMN sla_started_at REAL;
    ALTER TABLE cases ADD COLUMN sla_episode INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE cases ADD COLUMN sla_responded_at REAL;
    ALTER TABLE cases ADD COLUMN sla_response_due REAL;
    ALTER TABLE cases ADD COLUMN sla_resolution_due REAL;
    ALTER TABLE cases ADD COLUMN sla_admin_response_at REAL;
    ALTER TABLE cases ADD COLUMN sla_admin_resolution_at REAL;
    -- "Which cases breach next" reads these without a scan.
    CREATE INDEX cases_sla_response_due ON cases (sla_response_due)
        WHERE sla_response_due IS NOT NULL;
    CREATE INDEX cases_sla_resolution_due ON cases (sla_resolution_due)
        WHERE sla_resolution_due IS NOT NULL;
    -- Each change of a case's hold reason, NULL when it left hold: the resolution clock
    -- stops while a case awaits the customer.
    CREATE TABLE case_holds (
        case_id INTEGER NOT NULL REFERENCES cases (id),
        at REAL NOT NULL,
        reason TEXT
    );
    CREATE INDEX case_holds_case_at ON case_holds (case_id, at);
    -- When each case's SLA clock next needs looking at (at most one row a case).
    CREATE TABLE sla_timers (
        case_id INTEGER PRIMARY KEY REFERENCES cases (id),
        due_at REAL NOT NULL
    );
    CREATE INDEX sla_timers_due ON sla_timers (due_at);
    -- The breaches and administrative escalations already on a case's timeline, once each
    -- an episode, whatever restarts happen.
    CREATE TABLE sla_marks (
        case_id INTEGER NOT NULL REFERENCES cases (id),
        episode INTEGER NOT NULL,
        kind TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (case_id, episode, kind)
    ) WITHOUT ROWID;
    """,
)
