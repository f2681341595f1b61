//! The options of a container log request, as `pods/NAME/log` takes them
//! (a subset of `PodLogOptions`) and as the agent's `/containerLogs` takes
//! them. Bad values are errors that name the parameter.

/// Options of one log request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Container name (`pods/log` only; the agent has it in its path).
    pub container: Option<String>,
    /// Keep streaming new output until the container exits.
    pub follow: bool,
    /// Only this many lines from the end.
    pub tail_lines: Option<usize>,
    /// The previous run's output instead of the current one's.
    pub previous: bool,
    /// The pod's uid, from the API server to the agent, which tells two
    /// pods of the same name apart (one being deleted, one new).
    pub pod_uid: Option<String>,
}

/// Parameters Kubernetes defines that orch does not implement: refused
/// when set.
const UNSUPPORTED: [&str; 3] = ["sinceSeconds", "sinceTime", "limitBytes"];

fn boolean(field: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!(
            "{field}: invalid value {v:?}: must be true or false"
        )),
    }
}

impl LogQuery {
    /// Parses a URL query string.
    pub fn parse(query: &str) -> Result<Self, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| format!("invalid query parameters: {e}"))?;
        let mut q = LogQuery::default();
        for (k, v) in pairs {
            match k.as_str() {
                "container" => q.container = Some(v).filter(|c| !c.is_empty()),
                "follow" => q.follow = boolean("follow", &v)?,
                "previous" => q.previous = boolean("previous", &v)?,
                "tailLines" => {
                    let n: i64 = v.parse().map_err(|_| {
                        format!("tailLines: invalid value {v:?}: must be an integer")
                    })?;
                    let n = usize::try_from(n).map_err(|_| {
                        format!("tailLines: invalid value {n}: must be greater than or equal to 0")
                    })?;
                    q.tail_lines = Some(n);
                }
                "podUID" => q.pod_uid = Some(v).filter(|u| !u.is_empty()),
                "timestamps" if boolean("timestamps", &v)? => {
                    return Err("timestamps: not supported by orch".into());
                }
                other if UNSUPPORTED.contains(&other) && !v.is_empty() => {
                    return Err(format!("{other}: not supported by orch"));
                }
                // Others (pretty, insecureSkipTLSVerifyBackend) change
                // nothing here: agents' certificates are always verified.
                _ => {}
            }
        }
        Ok(q)
    }

    /// The query string for the agent (everything but the container).
    pub fn to_agent_query(&self) -> String {
        let mut pairs = vec![
            ("follow", self.follow.to_string()),
            ("previous", self.previous.to_string()),
        ];
        if let Some(n) = self.tail_lines {
            pairs.push(("tailLines", n.to_string()));
        }
        if let Some(u) = &self.pod_uid {
            pairs.push(("podUID", u.clone()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_parameters() {
        let q = LogQuery::parse("container=web&follow=true&tailLines=5&previous=false").unwrap();
        assert_eq!(q.container.as_deref(), Some("web"));
        assert!(q.follow && !q.previous);
        assert_eq!(q.tail_lines, Some(5));
        assert_eq!(LogQuery::parse("").unwrap(), LogQuery::default());
        assert!(LogQuery::parse("timestamps=false&pretty=true").is_ok());
    }

    #[test]
    fn errors_name_the_parameter() {
        for (q, field) in [
            ("tailLines=-1", "tailLines"),
            ("tailLines=x", "tailLines"),
            ("follow=maybe", "follow"),
            ("previous=2", "previous"),
            ("timestamps=true", "timestamps"),
            ("limitBytes=10", "limitBytes"),
        ] {
            let e = LogQuery::parse(q).unwrap_err();
            assert!(e.starts_with(field), "{q}: {e}");
        }
    }

    #[test]
    fn round_trips_to_the_agent() {
        let q = LogQuery {
            container: Some("c".into()),
            follow: true,
            tail_lines: Some(3),
            previous: false,
            pod_uid: Some("u-1".into()),
        };
        let back = LogQuery::parse(&q.to_agent_query()).unwrap();
        assert_eq!(
            back,
            LogQuery {
                container: None,
                ..q
            }
        );
    }
}
