//! Several objects' describes in one call: `GET /sobjects/{name}/describe` subrequests
//! packed 25 to a Composite request (describes are not query or Collections
//! subrequests, so the five-of-those cap does not apply) ([REST]
//! resources-composite-composite). For commands that read Lead, Contact and Account once,
//! this is one API call instead of three. Always fresh: the per-object describe cache of
//! [`Client::describe`] is neither read nor filled.

use std::sync::Arc;

use crate::client::Client;
use crate::composite::{self, SubRequest};
use crate::describe::SObjectDescribe;
use crate::error::Error;

/// Subrequests in one Composite request ([REST] resources-composite-composite).
const COMPOSITE_MAX_SUBREQUESTS: usize = 25;

impl Client {
    /// The describes of `objects`, in order; the first failing describe fails the call.
    pub async fn describe_many(
        &self,
        objects: &[&str],
    ) -> Result<Vec<Arc<SObjectDescribe>>, Error> {
        if let Some(bad) = objects
            .iter()
            .find(|o| o.is_empty() || !o.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(Error::InvalidRequest(format!(
                "`{bad}` is not an sObject API name"
            )));
        }
        let version = self.api_version();
        let mut out = Vec::with_capacity(objects.len());
        for chunk in objects.chunks(COMPOSITE_MAX_SUBREQUESTS) {
            let subs: Vec<SubRequest> = chunk
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    composite::query_subrequest(
                        format!("{}/sobjects/{o}/describe", version.data_path()),
                        format!("d{i}"),
                    )
                })
                .collect();
            for sub in self.composite(&subs, Vec::new(), true).await? {
                if !sub.is_success() {
                    return Err(sub.error());
                }
                let d: SObjectDescribe = serde_json::from_value(sub.body)
                    .map_err(|e| Error::Decode(format!("describe: {e}")))?;
                out.push(Arc::new(d));
            }
        }
        Ok(out)
    }
}
