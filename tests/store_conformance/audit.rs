//! `AuditStore`: who did what, newest first.

use o365::store::{AuditEntry, Store};

fn entry(at: i64, mailbox: Option<&str>, action: &str) -> AuditEntry {
    AuditEntry {
        at,
        mailbox_id: mailbox.map(str::to_owned),
        user: Some("u1".to_owned()),
        action: action.to_owned(),
        outcome: "ok".to_owned(),
        detail: Some(format!("detail of {action}")),
    }
}

pub fn newest_first_with_limit_per_mailbox(s: &dyn Store) {
    let a1 = entry(100, Some("m1"), "import");
    let b1 = entry(150, Some("m2"), "import");
    let a2 = AuditEntry {
        outcome: "denied".to_owned(),
        user: None,
        detail: None,
        ..entry(200, Some("m1"), "sign_in")
    };
    // Recorded out of time order: newest means last recorded.
    let a3 = entry(200, Some("m1"), "send");
    let none = entry(250, None, "check_setup");
    for e in [&a1, &b1, &a2, &a3, &none] {
        s.record_audit(e).unwrap();
    }
    assert_eq!(
        s.list_audit("m1", 10).unwrap(),
        vec![a3.clone(), a2.clone(), a1]
    );
    assert_eq!(s.list_audit("m1", 2).unwrap(), vec![a3, a2]);
    assert_eq!(s.list_audit("m2", 10).unwrap(), vec![b1]);
    assert!(s.list_audit("m1", 0).unwrap().is_empty());
    assert!(s.list_audit("m9", 10).unwrap().is_empty());
}
