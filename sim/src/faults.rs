//! Fault injection per route: answer with a status (and Retry-After), add latency, or carry out
//! the request and then drop the connection without an answer.

use std::sync::Mutex;

use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultSpec {
    /// HTTP method to match (any when absent).
    pub method: Option<String>,
    /// Path glob (`*` matches any run of characters), matched against the path without query,
    /// e.g. `/v1.0/me/sendMail`, `/v1.0/*/messages*`, `/*/oauth2/v2.0/token`.
    pub path: String,
    /// Answer with this status instead of carrying out the request.
    pub status: Option<u16>,
    /// Graph error `code` (or, on sign-in endpoints, the OAuth `error`).
    pub code: Option<String>,
    pub message: Option<String>,
    /// AADSTS number for sign-in endpoints (`error_codes`, `error_description` prefix).
    pub aadsts: Option<u32>,
    /// Seconds for the Retry-After header.
    pub retry_after: Option<u64>,
    /// Apply to this many matching requests, then stop (unlimited when absent).
    pub count: Option<u64>,
    /// Probability (0..1) that a matching request is hit (always when absent).
    pub rate: Option<f64>,
    /// Let this many matching requests through first.
    pub skip: u64,
    /// Added latency in milliseconds.
    pub latency_ms: Option<u64>,
    /// Carry out the request, then close the connection without sending the answer.
    pub drop_connection: bool,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultRule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub matched: u64,
    pub applied: u64,
}

#[derive(Default)]
pub struct Faults {
    rules: Mutex<(u64, Vec<FaultRule>)>,
}

#[derive(Clone, Debug, Default)]
pub struct FaultAction {
    pub rule: u64,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub aadsts: Option<u32>,
    pub retry_after: Option<u64>,
    pub latency_ms: Option<u64>,
    pub drop_connection: bool,
}

pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0usize, 0usize, None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi].eq_ignore_ascii_case(&t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

impl Faults {
    pub fn add(&self, spec: FaultSpec) -> FaultRule {
        let mut g = self.rules.lock().unwrap();
        g.0 += 1;
        let rule = FaultRule {
            id: g.0,
            spec,
            matched: 0,
            applied: 0,
        };
        g.1.push(rule.clone());
        rule
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.lock().unwrap().1.clone()
    }

    pub fn remove(&self, id: u64) -> bool {
        let mut g = self.rules.lock().unwrap();
        let before = g.1.len();
        g.1.retain(|r| r.id != id);
        g.1.len() != before
    }

    pub fn clear(&self) {
        self.rules.lock().unwrap().1.clear();
    }

    /// The first rule that fires for this request, if any (counts it as applied).
    pub fn check(&self, method: &str, path: &str) -> Option<FaultAction> {
        let mut g = self.rules.lock().unwrap();
        for r in g.1.iter_mut() {
            let s = &r.spec;
            if let Some(m) = &s.method {
                if !m.eq_ignore_ascii_case(method) {
                    continue;
                }
            }
            if !glob(&s.path, path) {
                continue;
            }
            if let Some(c) = s.count {
                if r.applied >= c {
                    continue;
                }
            }
            r.matched += 1;
            if r.matched <= s.skip {
                continue;
            }
            if let Some(rate) = s.rate {
                if rand::thread_rng().gen::<f64>() >= rate {
                    continue;
                }
            }
            r.applied += 1;
            return Some(FaultAction {
                rule: r.id,
                status: s.status,
                code: s.code.clone(),
                message: s.message.clone(),
                aadsts: s.aadsts,
                retry_after: s.retry_after,
                latency_ms: s.latency_ms,
                drop_connection: s.drop_connection,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::glob;
    #[test]
    fn globs() {
        assert!(glob("/v1.0/*/messages*", "/v1.0/me/messages/abc"));
        assert!(glob("/v1.0/me/sendMail", "/v1.0/me/sendmail"));
        assert!(!glob("/v1.0/me/sendMail", "/v1.0/me/sendMail2"));
        assert!(glob("*", "/x"));
        assert!(!glob("/a*b", "/acd"));
    }
}
