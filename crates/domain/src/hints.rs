//! The one hint table: every error code we can meet → what the admin should do, in plain
//! language, following the troubleshooting table of docs/product.md#troubleshooting (a field
//! not offered, data not written, the wrong record updated).
//! Codes are Salesforce's `errorCode`/`statusCode` as spelled (docs/salesforce.md#codes), plus
//! a few of ours for failures that happen before Salesforce answers.

/// Our code: the input line or item was invalid.
pub const INVALID_INPUT: &str = "INVALID_INPUT";
/// Our code: Salesforce could not be reached (connection refused, reset, DNS, TLS).
pub const CONNECTION_ERROR: &str = "CONNECTION_ERROR";
/// Our code: Salesforce did not answer in time.
pub const TIMEOUT: &str = "TIMEOUT";
/// Our code: the integration could not authenticate (token endpoint refused).
pub const AUTH_FAILED: &str = "AUTH_FAILED";
/// Our code: Salesforce answered with something we could not read.
pub const UNEXPECTED_RESPONSE: &str = "UNEXPECTED_RESPONSE";
/// Our code: the record we planned to write was not found in Salesforce's answer.
pub const NO_RESULT: &str = "NO_RESULT";
/// Our code: delivery stopped because the org's daily API usage passed `pause_at_api_usage`.
pub const API_USAGE_PAUSED: &str = "API_USAGE_PAUSED";
/// Our code: a write was not sent because the worker's lease on the delivery had run out or
/// could not be extended (another worker takes the delivery over).
pub const LEASE_LOST: &str = "LEASE_LOST";

struct Hint {
    code: &'static str,
    transient: bool,
    /// `{message}` is replaced by Salesforce's message.
    text: &'static str,
}

const HINTS: &[Hint] = &[
    Hint {
        code: "INVALID_FIELD_FOR_INSERT_UPDATE",
        transient: false,
        text: "The field exists but the integration user cannot edit it: in Salesforce Setup, check the field is on the right object (Lead/Contact/Account) and that field-level security gives the integration user's profile or permission set Edit access.",
    },
    Hint {
        code: "INVALID_FIELD",
        transient: false,
        text: "A mapped field does not exist on that object or is not visible to the integration user: check the API name in the destination's field mapping (it ends in __c for custom fields) and the field-level security in Salesforce Setup; `trailspark check` lists each problem.",
    },
    Hint {
        code: "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        transient: false,
        text: "A Salesforce validation rule blocks the update: \"{message}\". Ask your Salesforce admin to let the integration user through that rule (or fix the record's data), then retry.",
    },
    Hint {
        code: "FIELD_INTEGRITY_EXCEPTION",
        transient: false,
        text: "Salesforce refused a value on the record for integrity reasons: \"{message}\". Fix the record's data in Salesforce, then retry.",
    },
    Hint {
        code: "FIELD_FILTER_VALIDATION_EXCEPTION",
        transient: false,
        text: "A lookup filter on the record rejects a value: \"{message}\". Fix the record in Salesforce, then retry.",
    },
    Hint {
        code: "REQUEST_LIMIT_EXCEEDED",
        transient: true,
        text: "The org's API request limit is reached (\"{message}\"); delivery pauses and resumes by itself: the daily limit frees as the rolling 24-hour usage drops, the concurrent one as the org's other long requests finish. To resume sooner, ask Salesforce for a higher allocation or lower other integrations' usage.",
    },
    Hint {
        code: "INVALID_SESSION_ID",
        transient: true,
        text: "The Salesforce session expired; it is refreshed automatically. If this keeps failing, the refresh token was revoked or expired: reconnect the integration. If the message says the session is not valid for use with the REST API, give the connected app the \"api\" OAuth scope and reconnect.",
    },
    Hint {
        code: AUTH_FAILED,
        transient: false,
        text: "The integration could not sign in to Salesforce: reconnect it (the refresh token may be revoked or expired), and check the connected app's consumer key, the login URL (production, sandbox or My Domain) and that the user is approved for the app.",
    },
    Hint {
        code: "DUPLICATES_DETECTED",
        transient: false,
        text: "A Salesforce duplicate rule blocked the save; the ids above are the records it matched. Merge or clean up those duplicates, or set allow_duplicate_save = true in [destinations.salesforce] if the rule is alert-only and your org wants the save to go through.",
    },
    Hint {
        code: "DUPLICATE_VALUE",
        transient: false,
        text: "A unique field already holds this value on another record: \"{message}\". Clean up the duplicate in Salesforce.",
    },
    Hint {
        code: "DUPLICATE_EXTERNAL_ID",
        transient: false,
        text: "Several records hold this External ID value, so Salesforce cannot tell which one to update: \"{message}\". Merge or clean up those records, and mark the field Unique so it cannot happen again.",
    },
    Hint {
        code: "UNABLE_TO_LOCK_ROW",
        transient: true,
        text: "Another process was editing the same record (or its Account) at the same time; the delivery is retried automatically.",
    },
    Hint {
        code: "STRING_TOO_LONG",
        transient: false,
        text: "A value is longer than the Salesforce field allows: \"{message}\". Make the field longer in Setup (Long Text Area for reasoning) or map a larger field.",
    },
    Hint {
        code: "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        transient: false,
        text: "The mapped field is a restricted picklist without this value: add hot, warm and cold (and high_propensity, medium_propensity, low_propensity for propensity) to its values in Setup.",
    },
    Hint {
        code: "REQUIRED_FIELD_MISSING",
        transient: false,
        text: "Salesforce requires a field we do not fill: \"{message}\". Make the field optional or give it a default value in Setup, or send the person data (name, company) with the evaluation.",
    },
    Hint {
        code: "INSUFFICIENT_ACCESS_OR_READONLY",
        transient: false,
        text: "The integration user may not edit this record: check its profile's object permissions (Edit on Lead/Contact/Account) and the record's sharing.",
    },
    Hint {
        code: "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        transient: false,
        text: "The integration user cannot see a record this one refers to (for example its Account or owner): check sharing settings for the integration user.",
    },
    Hint {
        code: "ENTITY_IS_DELETED",
        transient: false,
        text: "The record was deleted in Salesforce; nothing to update. Restore it from the Recycle Bin if that was a mistake.",
    },
    Hint {
        code: "ENTITY_IS_LOCKED",
        transient: false,
        text: "The record is locked for editing (usually an approval process): unlock it or finish the approval, then retry.",
    },
    Hint {
        code: "CANNOT_UPDATE_CONVERTED_LEAD",
        transient: false,
        text: "The Lead was converted; converted Leads are read-only. Its Contact is written instead on the next delivery; retry.",
    },
    Hint {
        code: "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        transient: false,
        text: "An Apex trigger or flow on the record failed: \"{message}\". Ask your Salesforce admin to fix the automation (or let the integration user through it), then retry; when the message is a record lock, the delivery is retried automatically.",
    },
    Hint {
        code: "INVALID_EMAIL_ADDRESS",
        transient: false,
        text: "Salesforce does not accept this email address: \"{message}\". Correct the email in the source data.",
    },
    Hint {
        code: "MALFORMED_ID",
        transient: false,
        text: "Salesforce refused a record id: \"{message}\". This is a bug; please report it with this line.",
    },
    Hint {
        code: "INVALID_CROSS_REFERENCE_KEY",
        transient: false,
        text: "A referenced record id is not valid for the integration user: \"{message}\". Check the Account still exists and is visible to the integration user.",
    },
    Hint {
        code: "INVALID_TYPE",
        transient: false,
        text: "The object is not available to the integration user: check the profile's object permissions for Lead, Contact and Account and that API access is on.",
    },
    Hint {
        code: "API_DISABLED_FOR_ORG",
        transient: false,
        text: "The Salesforce edition or org does not allow API access: API access needs Enterprise, Unlimited, Developer or Performance edition (or the API add-on).",
    },
    Hint {
        code: "API_CURRENTLY_DISABLED",
        transient: false,
        text: "The integration user lacks the \"API Enabled\" permission: add it to the user's profile or a permission set.",
    },
    Hint {
        code: "NOT_FOUND",
        transient: false,
        text: "Salesforce says the resource does not exist: \"{message}\". Check the integration's api_version in [integrations.NAME] (the org must offer it: newer versions than the org's answer NOT_FOUND; remove the key to use the tested default) and the object and field names in the mapping.",
    },
    Hint {
        code: "MALFORMED_QUERY",
        transient: false,
        text: "Salesforce could not read a lookup query: \"{message}\". Check the mapped field names; if they are right, this is a bug: please report it.",
    },
    Hint {
        code: "QUERY_TIMEOUT",
        transient: true,
        text: "A lookup query ran too long in Salesforce; it is retried later. If it persists, ask Salesforce support to index the Email field.",
    },
    Hint {
        code: "INVALID_QUERY_LOCATOR",
        transient: true,
        text: "A query cursor expired while reading results; the lookup is retried.",
    },
    Hint {
        code: "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        transient: true,
        text: "Salesforce rolled this record back because another record in the same request failed; it is retried.",
    },
    Hint {
        code: "PROCESSING_HALTED",
        transient: true,
        text: "Salesforce stopped this part of the request because another part failed; it is retried.",
    },
    Hint {
        code: "SERVER_UNAVAILABLE",
        transient: true,
        text: "Salesforce is overloaded or in maintenance; the delivery is retried with backoff.",
    },
    Hint {
        code: "UNKNOWN_EXCEPTION",
        transient: true,
        text: "Salesforce had an internal error; the delivery is retried. If it persists, contact Salesforce support with the message.",
    },
    Hint {
        code: "INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE",
        transient: true,
        text: "The org is in read-only maintenance; delivery resumes after it.",
    },
    Hint {
        code: "TXN_SECURITY_NO_ACCESS",
        transient: false,
        text: "A transaction security policy in the org blocks this operation: ask your Salesforce admin to allow the integration user.",
    },
    Hint {
        code: "INVALID_TYPE_ON_FIELD_IN_RECORD",
        transient: false,
        text: "A mapped field has a type that cannot hold the value: \"{message}\". Map a field of a compatible type (`trailspark check` lists compatible types).",
    },
    Hint {
        code: "METHOD_NOT_ALLOWED",
        transient: false,
        text: "Salesforce refused the HTTP method of a request: \"{message}\". This is a bug; please report it with this line.",
    },
    Hint {
        code: "API_VERSION_RETIRED",
        transient: false,
        text: "The integration's api_version is retired in this org: \"{message}\". Set api_version in [integrations.NAME] to a current version (31.0 or newer; the default is the tested one) or remove it.",
    },
    Hint {
        code: "QUERY_TOO_COMPLICATED",
        transient: false,
        text: "Salesforce found a lookup query too complicated: \"{message}\". Send smaller batches (--batch-size, or batch_size in [server.worker]) so fewer emails go into one query; if it persists, please report it.",
    },
    Hint {
        code: "URI_TOO_LONG",
        transient: false,
        text: "A request's URL was longer than Salesforce accepts (16,384 bytes). Lookup queries are split to stay under it, so this is a bug (or a proxy rewrote the URL): please report it with this line.",
    },
    Hint {
        code: "REQUEST_HEADER_FIELDS_TOO_LARGE",
        transient: false,
        text: "A request's URL and headers together were longer than Salesforce accepts (16,384 bytes). If a proxy between trailspark and Salesforce adds large headers, configure it not to; otherwise this is a bug: please report it with this line.",
    },
    Hint {
        code: "JSON_PARSER_ERROR",
        transient: false,
        text: "Salesforce could not read our request: this is a bug; please report it with this line.",
    },
    Hint {
        code: INVALID_INPUT,
        transient: false,
        text: "Fix the evaluation in the input (the message names the field) and send it again.",
    },
    Hint {
        code: CONNECTION_ERROR,
        transient: true,
        text: "Salesforce could not be reached; delivery is retried. Check the network and the integration's login or instance URL.",
    },
    Hint {
        code: TIMEOUT,
        transient: true,
        text: "Salesforce did not answer in time; delivery is retried.",
    },
    Hint {
        code: UNEXPECTED_RESPONSE,
        transient: true,
        text: "Salesforce answered with something unexpected (often a maintenance page); delivery is retried.",
    },
    Hint {
        code: API_USAGE_PAUSED,
        transient: true,
        text: "The org's daily API usage passed the share set by pause_at_api_usage for this integration, so delivery stopped to leave room for the org's other integrations. It resumes when usage drops (a rolling 24 hours): run again later, or raise pause_at_api_usage.",
    },
    Hint {
        code: NO_RESULT,
        transient: true,
        text: "Salesforce's answer did not include this record; delivery is retried.",
    },
    Hint {
        code: LEASE_LOST,
        transient: true,
        text: "This worker's hold on the delivery ran out (a stall, or the database could not be reached to extend it), so it stopped before writing; the worker that holds the delivery now delivers it. Nothing to do.",
    },
];

/// The plain-language fix for `code`; `message` (Salesforce's) is quoted where it helps.
pub fn hint(code: &str, message: &str) -> String {
    match HINTS.iter().find(|h| h.code == code) {
        Some(h) => h.text.replace("{message}", message),
        None if code.starts_with("HTTP_5") => {
            "Salesforce had a server error; the delivery is retried with backoff.".to_string()
        }
        None if code == "HTTP_429" => {
            "Salesforce (or a proxy in front of it) is rate-limiting the integration; delivery is retried with backoff.".to_string()
        }
        // An HTTP error without Salesforce's error array: not a refused write.
        None if code.starts_with("HTTP_") => format!(
            "Salesforce answered an error status without an error code: \"{message}\". Check the integration's login URL and api_version; if it persists, please report it with this line."
        ),
        None => format!(
            "Salesforce refused the write: \"{message}\". Check that the destination is enabled, the integration is connected, and no validation rule or automation blocks the update."
        ),
    }
}

/// Whether a later retry may succeed. `REQUEST_LIMIT_EXCEEDED` is transient both for the daily
/// limit (the window rolls) and the concurrent one. A trigger or flow failure
/// (`CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY`) is transient only when it wraps a row lock
/// (docs/salesforce.md#codes).
pub fn is_transient(code: &str, message: &str) -> bool {
    if code == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY" {
        return message.contains("UNABLE_TO_LOCK_ROW");
    }
    match HINTS.iter().find(|h| h.code == code) {
        Some(h) => h.transient,
        None => code.starts_with("HTTP_5") || code == "HTTP_429",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the table knows.
    fn known_codes() -> Vec<&'static str> {
        HINTS.iter().map(|h| h.code).collect()
    }

    #[test]
    fn validation_hint_names_the_message() {
        let h = hint(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "Score may not change on closed leads",
        );
        assert!(h.contains("validation rule"));
        assert!(h.contains("Score may not change on closed leads"));
    }

    #[test]
    fn transient_codes() {
        for c in [
            "UNABLE_TO_LOCK_ROW",
            "SERVER_UNAVAILABLE",
            "REQUEST_LIMIT_EXCEEDED",
            CONNECTION_ERROR,
            "HTTP_503",
            API_USAGE_PAUSED,
            LEASE_LOST,
        ] {
            assert!(is_transient(c, ""), "{c}");
        }
        for c in [
            "INVALID_FIELD",
            "DUPLICATES_DETECTED",
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "SOMETHING_NEW",
        ] {
            assert!(!is_transient(c, ""), "{c}");
        }
    }

    /// Every code of docs/salesforce.md#codes (and the ones the emulated org answers outside
    /// it), with whether a later retry may succeed per the table's "transient" column.
    const CATALOGUE: &[(&str, bool)] = &[
        ("INVALID_SESSION_ID", true),
        ("REQUEST_LIMIT_EXCEEDED", true),
        ("API_DISABLED_FOR_ORG", false),
        ("API_CURRENTLY_DISABLED", false),
        ("INSUFFICIENT_ACCESS_OR_READONLY", false),
        ("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY", false),
        ("INVALID_FIELD_FOR_INSERT_UPDATE", false),
        ("INVALID_FIELD", false),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", false),
        ("FIELD_INTEGRITY_EXCEPTION", false),
        ("FIELD_FILTER_VALIDATION_EXCEPTION", false),
        ("REQUIRED_FIELD_MISSING", false),
        ("STRING_TOO_LONG", false),
        ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", false),
        ("INVALID_EMAIL_ADDRESS", false),
        ("MALFORMED_ID", false),
        ("INVALID_CROSS_REFERENCE_KEY", false),
        ("DUPLICATES_DETECTED", false),
        ("DUPLICATE_VALUE", false),
        ("DUPLICATE_EXTERNAL_ID", false),
        ("UNABLE_TO_LOCK_ROW", true),
        ("ENTITY_IS_DELETED", false),
        ("ENTITY_IS_LOCKED", false),
        ("CANNOT_UPDATE_CONVERTED_LEAD", false),
        ("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY", false),
        ("MALFORMED_QUERY", false),
        ("INVALID_TYPE", false),
        ("INVALID_QUERY_LOCATOR", true),
        ("QUERY_TIMEOUT", true),
        ("NOT_FOUND", false),
        ("METHOD_NOT_ALLOWED", false),
        ("JSON_PARSER_ERROR", false),
        ("INVALID_TYPE_ON_FIELD_IN_RECORD", false),
        ("ALL_OR_NONE_OPERATION_ROLLED_BACK", true),
        ("PROCESSING_HALTED", true),
        ("SERVER_UNAVAILABLE", true),
        ("UNKNOWN_EXCEPTION", true),
        ("INSERT_UPDATE_DELETE_NOT_ALLOWED_DURING_MAINTENANCE", true),
        ("TXN_SECURITY_NO_ACCESS", false),
        // Answered by the org outside docs/salesforce.md#codes (#api-versions, #limits,
        // #error-codes).
        ("API_VERSION_RETIRED", false),
        ("QUERY_TOO_COMPLICATED", false),
        ("URI_TOO_LONG", false),
        ("REQUEST_HEADER_FIELDS_TOO_LARGE", false),
    ];

    #[test]
    fn every_catalogued_code_has_its_own_hint_and_the_right_transience() {
        let generic = hint("SOMETHING_NEW", "the message");
        for &(code, transient) in CATALOGUE {
            let h = hint(code, "the message");
            assert_ne!(h, generic, "{code} falls back to the generic hint");
            assert!(
                known_codes().contains(&code),
                "{code} is missing from the table"
            );
            assert!(!h.contains("{message}"), "{code}: placeholder left: {h}");
            assert_eq!(is_transient(code, "the message"), transient, "{code}");
        }
    }

    #[test]
    fn a_trigger_failure_is_transient_only_when_it_wraps_a_row_lock() {
        let code = "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY";
        assert!(is_transient(
            code,
            "LeadTrigger: execution of AfterUpdate caused by: System.DmlException: Update failed. first error: UNABLE_TO_LOCK_ROW, unable to obtain exclusive access to this record"
        ));
        assert!(!is_transient(code, "LeadTrigger: Company is required"));
        assert!(hint(code, "LeadTrigger: Company is required").contains("Company is required"));
    }

    #[test]
    fn non_write_codes_do_not_blame_a_refused_write() {
        for code in [
            "API_VERSION_RETIRED",
            "QUERY_TOO_COMPLICATED",
            "URI_TOO_LONG",
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            "NOT_FOUND",
            "INVALID_QUERY_LOCATOR",
            "MALFORMED_QUERY",
        ] {
            let h = hint(code, "m");
            assert!(!h.contains("refused the write"), "{code}: {h}");
        }
        assert!(hint("API_VERSION_RETIRED", "m").contains("api_version"));
        assert!(hint("NOT_FOUND", "m").contains("api_version"));
        assert!(hint("HTTP_404", "m").contains("login URL"));
        assert!(hint("HTTP_429", "m").contains("retried"));
    }

    #[test]
    fn codes_are_unique_and_unknown_codes_get_the_seed_hint() {
        let mut codes = known_codes();
        let n = codes.len();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), n);
        assert!(hint("SOMETHING_NEW", "boom").contains("validation rule"));
    }
}
