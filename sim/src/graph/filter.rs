//! A small OData `$filter` / `$orderby` / `$search` evaluator over messages: comparisons
//! (`eq ne gt ge lt le`), `and`/`or`/`not`, parentheses, `startswith`/`endswith`/`contains`,
//! and `any` over `categories` and recipient collections.

use std::cmp::Ordering;

use super::GErr;
use crate::clock::parse_iso;
use crate::state::{Addr, Mailbox, Message};

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Lit(String),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn bad(msg: impl Into<String>) -> GErr {
    GErr::bad(
        "BadRequest",
        format!("Invalid filter clause: {}", msg.into()),
    )
}

fn lex(s: &str) -> Result<Vec<Tok>, GErr> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = vec![];
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if ch == ':' {
            out.push(Tok::Colon);
            i += 1;
        } else if ch == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                if i >= c.len() {
                    return Err(bad("unterminated string literal"));
                }
                if c[i] == '\'' {
                    if i + 1 < c.len() && c[i + 1] == '\'' {
                        v.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                v.push(c[i]);
                i += 1;
            }
            out.push(Tok::Str(v));
        } else if ch.is_ascii_digit() || ch == '-' {
            let st = i;
            while i < c.len() && !c[i].is_whitespace() && c[i] != ')' && c[i] != ',' {
                i += 1;
            }
            out.push(Tok::Lit(c[st..i].iter().collect()));
        } else if ch.is_alphabetic() || ch == '_' || ch == '$' || ch == '@' {
            let st = i;
            while i < c.len() && (c[i].is_alphanumeric() || "_/.$@".contains(c[i])) {
                i += 1;
            }
            out.push(Tok::Ident(c[st..i].iter().collect()));
        } else {
            return Err(bad(format!("unexpected character '{ch}'")));
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(String, Operand, Operand),
    Func(String, Operand, Operand),
    Any(String, String, Box<Expr>),
}

#[derive(Clone, Debug)]
pub enum Operand {
    Path(String),
    Str(String),
    Lit(String),
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        t
    }
    fn kw(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(k))
    }
    fn expect(&mut self, t: Tok) -> Result<(), GErr> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(bad(format!("expected {t:?}, found {other:?}"))),
        }
    }
    fn or(&mut self) -> Result<Expr, GErr> {
        let mut l = self.and()?;
        while self.kw("or") {
            self.i += 1;
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, GErr> {
        let mut l = self.unary()?;
        while self.kw("and") {
            self.i += 1;
            let r = self.unary()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, GErr> {
        if self.kw("not") {
            self.i += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn operand(&mut self) -> Result<Operand, GErr> {
        match self.next() {
            Some(Tok::Ident(s)) => {
                let l = s.to_ascii_lowercase();
                if l == "true" || l == "false" || l == "null" {
                    Ok(Operand::Lit(l))
                } else {
                    Ok(Operand::Path(s))
                }
            }
            Some(Tok::Str(s)) => Ok(Operand::Str(s)),
            Some(Tok::Lit(s)) => Ok(Operand::Lit(s)),
            other => Err(bad(format!("expected an operand, found {other:?}"))),
        }
    }
    fn primary(&mut self) -> Result<Expr, GErr> {
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let e = self.or()?;
            self.expect(Tok::RParen)?;
            return Ok(e);
        }
        if let Some(Tok::Ident(name)) = self.peek().cloned() {
            let lower = name.to_ascii_lowercase();
            if self.t.get(self.i + 1) == Some(&Tok::LParen) {
                if ["startswith", "endswith", "contains"].contains(&lower.as_str()) {
                    self.i += 2;
                    let a = self.operand()?;
                    self.expect(Tok::Comma)?;
                    let b = self.operand()?;
                    self.expect(Tok::RParen)?;
                    return Ok(Expr::Func(lower, a, b));
                }
                if let Some(coll) = lower.strip_suffix("/any") {
                    self.i += 2;
                    let var = match self.next() {
                        Some(Tok::Ident(v)) => v,
                        other => {
                            return Err(bad(format!("expected a lambda variable, found {other:?}")))
                        }
                    };
                    self.expect(Tok::Colon)?;
                    let body = self.or()?;
                    self.expect(Tok::RParen)?;
                    return Ok(Expr::Any(coll.to_string(), var, Box::new(body)));
                }
                return Err(bad(format!("unsupported function '{name}'")));
            }
        }
        let l = self.operand()?;
        let op = match self.next() {
            Some(Tok::Ident(o))
                if ["eq", "ne", "gt", "ge", "lt", "le"]
                    .contains(&o.to_ascii_lowercase().as_str()) =>
            {
                o.to_ascii_lowercase()
            }
            other => {
                return Err(bad(format!(
                    "expected a comparison operator, found {other:?}"
                )))
            }
        };
        let r = self.operand()?;
        Ok(Expr::Cmp(op, l, r))
    }
}

pub fn parse(s: &str) -> Result<Expr, GErr> {
    let mut p = P { t: lex(s)?, i: 0 };
    let e = p.or()?;
    if p.i != p.t.len() {
        return Err(bad("unexpected trailing tokens"));
    }
    Ok(e)
}

#[derive(Clone, Debug)]
enum V {
    S(String),
    B(bool),
    D(i64),
    N(f64),
    Null,
}

enum Elem<'a> {
    S(&'a str),
    A(&'a Addr),
}

fn addr_prop(a: &Option<Addr>, rest: &str) -> Result<V, GErr> {
    let Some(a) = a else { return Ok(V::Null) };
    match rest.to_ascii_lowercase().as_str() {
        "emailaddress/address" => Ok(V::S(a.address.clone())),
        "emailaddress/name" => Ok(V::S(a.name.clone())),
        _ => Err(bad(format!("unknown property path '{rest}'"))),
    }
}

fn resolve(mb: &Mailbox, m: &Message, path: &str, env: Option<(&str, &Elem)>) -> Result<V, GErr> {
    if let Some((var, el)) = env {
        if path == var {
            return Ok(match el {
                Elem::S(s) => V::S(s.to_string()),
                Elem::A(a) => V::S(a.address.clone()),
            });
        }
        if let Some(rest) = path.strip_prefix(&format!("{var}/")) {
            return match el {
                Elem::A(a) => addr_prop(&Some((*a).clone()), rest),
                Elem::S(_) => Err(bad(format!("unknown property path '{path}'"))),
            };
        }
    }
    let lower = path.to_ascii_lowercase();
    let (head, rest) = match lower.split_once('/') {
        Some((h, r)) => (h.to_string(), r.to_string()),
        None => (lower.clone(), String::new()),
    };
    Ok(match (head.as_str(), rest.as_str()) {
        ("isread", "") => V::B(m.is_read),
        ("isdraft", "") => V::B(m.is_draft),
        ("hasattachments", "") => V::B(m.has_attachments()),
        ("subject", "") => V::S(m.subject.clone()),
        ("bodypreview", "") => V::S(super::json::preview(m).to_string()),
        ("internetmessageid", "") => V::S(m.internet_message_id.clone()),
        ("conversationid", "") => V::S(m.conversation_id.clone()),
        ("importance", "") => V::S(m.importance.clone()),
        ("inferenceclassification", "") => V::S(m.inference.clone()),
        ("parentfolderid", "") => V::S(mb.folders[m.folder as usize].id.clone()),
        ("id", "") => V::S(m.rest_id.clone()),
        ("receiveddatetime", "") => V::D(m.received),
        ("sentdatetime", "") => m.sent.map(V::D).unwrap_or(V::Null),
        ("createddatetime", "") => V::D(m.created),
        ("lastmodifieddatetime", "") => V::D(m.last_modified),
        ("flag", "flagstatus") => V::S(m.flag.clone()),
        ("from", r) => addr_prop(&m.from, r)?,
        ("sender", r) => addr_prop(&m.sender, r)?,
        _ => return Err(bad(format!("unknown property '{path}'"))),
    })
}

fn value(
    mb: &Mailbox,
    m: &Message,
    o: &Operand,
    env: Option<(&str, &Elem)>,
    hint: &V,
) -> Result<V, GErr> {
    Ok(match o {
        Operand::Path(p) => resolve(mb, m, p, env)?,
        Operand::Str(s) => match hint {
            V::D(_) => parse_iso(s).map(V::D).unwrap_or(V::S(s.clone())),
            _ => V::S(s.clone()),
        },
        Operand::Lit(l) => match l.as_str() {
            "true" => V::B(true),
            "false" => V::B(false),
            "null" => V::Null,
            _ => {
                if let Some(d) = parse_iso(l).filter(|_| l.contains('-')) {
                    V::D(d)
                } else if let Ok(n) = l.parse::<f64>() {
                    V::N(n)
                } else {
                    return Err(bad(format!("bad literal '{l}'")));
                }
            }
        },
    })
}

fn compare(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::S(x), V::S(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        (V::B(x), V::B(y)) => Some(x.cmp(y)),
        (V::D(x), V::D(y)) => Some(x.cmp(y)),
        (V::N(x), V::N(y)) => x.partial_cmp(y),
        (V::Null, V::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn eval_in(mb: &Mailbox, m: &Message, e: &Expr, env: Option<(&str, &Elem)>) -> Result<bool, GErr> {
    Ok(match e {
        Expr::And(a, b) => eval_in(mb, m, a, env)? && eval_in(mb, m, b, env)?,
        Expr::Or(a, b) => eval_in(mb, m, a, env)? || eval_in(mb, m, b, env)?,
        Expr::Not(a) => !eval_in(mb, m, a, env)?,
        Expr::Cmp(op, l, r) => {
            let probe = match l {
                Operand::Path(_) => value(mb, m, l, env, &V::Null)?,
                _ => V::Null,
            };
            let lv = value(mb, m, l, env, &V::Null)?;
            let rv = value(mb, m, r, env, &probe)?;
            let ord = compare(&lv, &rv);
            match op.as_str() {
                "eq" => ord == Some(Ordering::Equal),
                "ne" => ord != Some(Ordering::Equal),
                "gt" => ord == Some(Ordering::Greater),
                "ge" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                "lt" => ord == Some(Ordering::Less),
                "le" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                _ => false,
            }
        }
        Expr::Func(f, a, b) => {
            let av = value(mb, m, a, env, &V::Null)?;
            let bv = value(mb, m, b, env, &V::Null)?;
            match (av, bv) {
                (V::S(x), V::S(y)) => {
                    let (x, y) = (x.to_lowercase(), y.to_lowercase());
                    match f.as_str() {
                        "startswith" => x.starts_with(&y),
                        "endswith" => x.ends_with(&y),
                        _ => x.contains(&y),
                    }
                }
                _ => false,
            }
        }
        Expr::Any(coll, var, body) => {
            let elems: Vec<Elem> = match coll.as_str() {
                "categories" => m.categories.iter().map(|c| Elem::S(c)).collect(),
                "torecipients" => m.to.iter().map(Elem::A).collect(),
                "ccrecipients" => m.cc.iter().map(Elem::A).collect(),
                "bccrecipients" => m.bcc.iter().map(Elem::A).collect(),
                "replyto" => m.reply_to.iter().map(Elem::A).collect(),
                _ => return Err(bad(format!("unsupported collection '{coll}'"))),
            };
            for el in &elems {
                if eval_in(mb, m, body, Some((var.as_str(), el)))? {
                    return Ok(true);
                }
            }
            false
        }
    })
}

pub fn eval(mb: &Mailbox, m: &Message, e: &Expr) -> Result<bool, GErr> {
    eval_in(mb, m, e, None)
}

/// `$search="term"`: subject, body, sender and recipients contain all words.
pub fn search_matches(m: &Message, q: &str) -> bool {
    let q = q.trim().trim_matches('"').to_lowercase();
    let hay = format!(
        "{} {} {} {}",
        m.subject,
        m.body,
        m.from
            .as_ref()
            .map(|a| format!("{} {}", a.name, a.address))
            .unwrap_or_default(),
        m.to.iter()
            .map(|a| format!("{} {}", a.name, a.address))
            .collect::<Vec<_>>()
            .join(" ")
    )
    .to_lowercase();
    q.split_whitespace().all(|w| hay.contains(w))
}

/// The property paths a filter names, in the order they first appear (lower case; for a
/// lambda `coll/any(...)`, the collection).
pub fn properties(e: &Expr) -> Vec<String> {
    fn walk(e: &Expr, out: &mut Vec<String>) {
        let mut push = |p: &str| {
            let p = p.to_ascii_lowercase();
            if !out.contains(&p) {
                out.push(p);
            }
        };
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::Not(a) => walk(a, out),
            Expr::Cmp(_, l, r) | Expr::Func(_, l, r) => {
                for o in [l, r] {
                    if let Operand::Path(p) = o {
                        push(p);
                    }
                }
            }
            Expr::Any(coll, _, _) => push(coll),
        }
    }
    let mut out = vec![];
    walk(e, &mut out);
    out
}

/// Exchange's rules for `$filter` together with `$orderby` on messages (Microsoft Graph
/// "List messages", "Using filter and orderby in the same query"): every `$orderby` property
/// appears in `$filter`, in the same order, before any property that is not in `$orderby`.
/// Otherwise 400 `InefficientFilter`.
pub fn check_filter_with_orderby(f: &Expr, order: &[(String, bool)]) -> Result<(), GErr> {
    let props = properties(f);
    let ok = order.len() <= props.len()
        && order
            .iter()
            .zip(&props)
            .all(|((o, _), p)| o.eq_ignore_ascii_case(p));
    if ok {
        Ok(())
    } else {
        Err(GErr::bad(
            "InefficientFilter",
            "The restriction or sort order is too complex for this operation.",
        ))
    }
}

/// `$search` cannot be combined with `$filter` or `$orderby` ("Use query parameters":
/// "You cannot use $filter or $orderby in a search request"); the codes and messages are the
/// ones Microsoft Graph answers (reported in public issues).
pub fn check_search_alone(has_filter: bool, has_orderby: bool) -> Result<(), GErr> {
    if has_filter {
        return Err(GErr::bad(
            "SearchWithFilter",
            "The query parameter '$filter' is not supported with '$search'.",
        ));
    }
    if has_orderby {
        return Err(GErr::bad(
            "SearchWithOrderBy",
            "The query parameter '$orderBy' is not supported with '$search'.",
        ));
    }
    Ok(())
}

/// Message delta ("message: delta"): the only supported `$filter` expressions are
/// `receivedDateTime ge {value}` and `receivedDateTime gt {value}`, the only `$orderby` is
/// `receivedDateTime desc`, and there is no `$search`.
pub fn check_delta_query(
    filter: Option<&str>,
    orderby: Option<&str>,
    search: bool,
) -> Result<(), GErr> {
    if search {
        return Err(GErr::bad(
            "BadRequest",
            "The query parameter '$search' is not supported with delta.",
        ));
    }
    if let Some(f) = filter {
        let ok = matches!(
            parse(f)?,
            Expr::Cmp(op, Operand::Path(p), Operand::Lit(_) | Operand::Str(_))
                if (op == "ge" || op == "gt") && p.eq_ignore_ascii_case("receivedDateTime")
        );
        if !ok {
            return Err(GErr::bad(
                "BadRequest",
                "The only supported $filter expressions with delta are 'receivedDateTime ge {value}' and 'receivedDateTime gt {value}'.",
            ));
        }
    }
    if let Some(o) = orderby {
        let keys = parse_orderby(o)?;
        let ok =
            matches!(keys.as_slice(), [(p, true)] if p.eq_ignore_ascii_case("receivedDateTime"));
        if !ok {
            return Err(GErr::bad(
                "BadRequest",
                "The only supported $orderby expression with delta is 'receivedDateTime desc'.",
            ));
        }
    }
    Ok(())
}

/// Parses `$orderby` into (property path, descending) keys.
pub fn parse_orderby(s: &str) -> Result<Vec<(String, bool)>, GErr> {
    let mut out = vec![];
    for part in s.split(',') {
        let mut it = part.split_whitespace();
        let Some(p) = it.next() else { continue };
        let desc = match it.next().map(|d| d.to_ascii_lowercase()) {
            None => false,
            Some(d) if d == "asc" => false,
            Some(d) if d == "desc" => true,
            Some(d) => {
                return Err(GErr::bad(
                    "BadRequest",
                    format!("Invalid $orderby direction '{d}'."),
                ))
            }
        };
        out.push((p.to_string(), desc));
    }
    Ok(out)
}

pub fn sort(mb: &Mailbox, v: &mut [&Message], keys: &[(String, bool)]) -> Result<(), GErr> {
    for (k, _) in keys {
        if let Some(m) = v.first() {
            resolve(mb, m, k, None)?;
        }
    }
    v.sort_by(|a, b| {
        for (k, desc) in keys {
            let (x, y) = (resolve(mb, a, k, None), resolve(mb, b, k, None));
            if let (Ok(x), Ok(y)) = (x, y) {
                let o = compare(&x, &y).unwrap_or(Ordering::Equal);
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
        a.key.cmp(&b.key)
    });
    Ok(())
}
