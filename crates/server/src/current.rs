//! The destination settings in force: the config file's `[destinations.salesforce]` when
//! it has one (then read-only through the API), else the newest version saved through the
//! API. Workers re-read it before each batch, so a save takes effect on the next batch in
//! every process sharing the database, without a restart.

use std::sync::Arc;

use domain::DestinationSettings;
use serde_json::{Value, json};
use store::Store;
use time::OffsetDateTime;

use crate::worker::SALESFORCE;

/// Where the settings in force come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// `[destinations.salesforce]` in the config file.
    Config,
    /// Saved through the API: this version, by whom, when.
    Saved {
        version: i64,
        saved_by: Option<String>,
        saved_at: OffsetDateTime,
    },
}

/// The settings in force and where they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    pub settings: DestinationSettings,
    pub origin: Origin,
}

impl Current {
    pub fn read_only(&self) -> bool {
        self.origin == Origin::Config
    }

    /// Identifies this version of the settings (workers rebuild their destination when it
    /// changes).
    pub fn version_key(&self) -> i64 {
        match self.origin {
            Origin::Config => 0,
            Origin::Saved { version, .. } => version,
        }
    }

    /// The `meta` object the API shows beside the settings.
    pub fn meta_json(&self) -> Value {
        match &self.origin {
            Origin::Config => json!({"managed_by": "config", "read_only": true, "version": null,
                                     "saved_by": null, "saved_at": null}),
            Origin::Saved {
                version,
                saved_by,
                saved_at,
            } => json!({"managed_by": "database", "read_only": false, "version": version,
                        "saved_by": saved_by, "saved_at": crate::handlers::rfc3339(*saved_at)}),
        }
    }
}

/// Reads the settings in force. `None`: nothing configured yet (deliveries wait).
pub async fn current(
    store: &dyn Store,
    config: Option<&Arc<DestinationSettings>>,
) -> anyhow::Result<Option<Current>> {
    if let Some(c) = config {
        return Ok(Some(Current {
            settings: (**c).clone(),
            origin: Origin::Config,
        }));
    }
    let Some(v) = store.current_destination_settings(SALESFORCE).await? else {
        return Ok(None);
    };
    // Saved settings were validated when saved; if a newer version of this program reads
    // them differently the problem is named rather than guessed around.
    let settings = DestinationSettings::from_json(&v.value, "saved destination settings")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(Current {
        settings,
        origin: Origin::Saved {
            version: v.version,
            saved_by: v.saved_by,
            saved_at: v.saved_at,
        },
    }))
}
