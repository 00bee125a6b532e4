//! Structured edits of the default world a scenario makes: set a value at a path, or remove one.
//! A path is dotted keys; a list is entered by index (`roles[0]`) or by a field's value
//! (`service_accounts[email=deployer@acme-data.iam.gserviceaccount.com]`). A path that leads
//! nowhere is an error naming the segment, never a silent no-op.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// One edit: `{set: PATH, value: VALUE}` or `{remove: PATH}` (a key, or a list item by index or
/// `field=value`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldEdit {
    /// Set the value at this path (the last key is created if absent).
    #[serde(default)]
    pub set: Option<String>,
    /// The value to set.
    #[serde(default)]
    pub value: Option<Value>,
    /// Remove the key at this path.
    #[serde(default)]
    pub remove: Option<String>,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(String, usize),
    Select(String, String, String),
}

fn segments(path: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let end = match (rest.find('.'), rest.find('[')) {
            (Some(d), Some(b)) if b < d => rest[b..].find(']').map(|c| b + c + 1).ok_or_else(|| format!("`{path}`: `[` without `]`"))?,
            (Some(d), _) => d,
            (None, Some(_)) => rest.find(']').map(|c| c + 1).ok_or_else(|| format!("`{path}`: `[` without `]`"))?,
            (None, None) => rest.len(),
        };
        let seg = &rest[..end];
        rest = rest[end..].strip_prefix('.').unwrap_or(&rest[end..]);
        out.push(match seg.split_once('[') {
            None if !seg.is_empty() => Segment::Key(seg.to_string()),
            None => return Err(format!("`{path}`: an empty segment")),
            Some((key, sel)) => {
                let sel = sel.strip_suffix(']').ok_or_else(|| format!("`{path}`: `{seg}` has text after `]`"))?;
                match (sel.parse::<usize>(), sel.split_once('=')) {
                    (Ok(i), _) => Segment::Index(key.to_string(), i),
                    (_, Some((f, v))) => Segment::Select(key.to_string(), f.to_string(), v.to_string()),
                    _ => return Err(format!("`{path}`: `[{sel}]` is neither an index nor `field=value`")),
                }
            }
        });
    }
    if out.is_empty() {
        return Err("an empty path".into());
    }
    Ok(out)
}

/// Whether `v` is `want`: the string itself, or a number or boolean written as `want`.
fn matches_text(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Number(n) => want.parse::<f64>().ok() == n.as_f64(),
        Value::Bool(b) => want == if *b { "true" } else { "false" },
        _ => false,
    }
}

/// The value `seg` names inside `v`, created as an empty mapping when it is the last key of a
/// `set` and absent (`create`).
fn step<'a>(v: &'a mut Value, seg: &Segment, path: &str, create: bool) -> Result<&'a mut Value, String> {
    let obj = v.as_object_mut().ok_or_else(|| format!("`{path}`: not a mapping where `{seg:?}` is looked up"))?;
    let key = match seg {
        Segment::Key(k) | Segment::Index(k, _) | Segment::Select(k, _, _) => k,
    };
    if create && !obj.contains_key(key) {
        obj.insert(key.clone(), Value::Object(Default::default()));
    }
    let inner = obj.get_mut(key).ok_or_else(|| format!("`{path}`: no `{key}` here"))?;
    match seg {
        Segment::Key(_) => Ok(inner),
        Segment::Index(k, i) => inner.as_array_mut().and_then(|a| a.get_mut(*i)).ok_or_else(|| format!("`{path}`: `{k}` has no item {i}")),
        Segment::Select(k, f, want) => {
            inner.as_array_mut().and_then(|a| a.iter_mut().find(|item| item.get(f).is_some_and(|x| matches_text(x, want)))).ok_or_else(|| format!("`{path}`: no item of `{k}` with {f} = {want}"))
        }
    }
}

/// Why a world edit could not be applied: the path it names leads nowhere, or the edit is
/// neither a `set` nor a `remove`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct WorldEditError {
    /// The edit's path, as written (empty for a malformed edit).
    pub path: String,
    /// What is wrong, naming the path.
    pub message: String,
}

/// Applies `edit` to the world `world` (the default world's tree).
pub fn apply(world: &mut Value, edit: &WorldEdit) -> Result<(), WorldEditError> {
    let path = edit.set.as_deref().or(edit.remove.as_deref()).unwrap_or("").to_string();
    apply_inner(world, edit).map_err(|message| WorldEditError { path, message })
}

fn apply_inner(world: &mut Value, edit: &WorldEdit) -> Result<(), String> {
    match (&edit.set, &edit.value, &edit.remove) {
        (Some(path), Some(value), None) => {
            let segs = segments(path)?;
            let (last, parents) = segs.split_last().ok_or("an empty path")?;
            let mut at = &mut *world;
            for s in parents {
                at = step(at, s, path, false)?;
            }
            match last {
                Segment::Key(k) => {
                    at.as_object_mut().ok_or_else(|| format!("`{path}`: not a mapping at the end"))?.insert(k.clone(), value.clone());
                }
                other => *step(at, other, path, false)? = value.clone(),
            }
            Ok(())
        }
        (None, None, Some(path)) => {
            let segs = segments(path)?;
            let (last, parents) = segs.split_last().ok_or("an empty path")?;
            let mut at = &mut *world;
            for s in parents {
                at = step(at, s, path, false)?;
            }
            let key = match last {
                Segment::Key(k) => return at.as_object_mut().and_then(|o| o.remove(k)).map(|_| ()).ok_or_else(|| format!("`{path}`: no `{k}` to remove")),
                Segment::Index(k, _) | Segment::Select(k, _, _) => k,
            };
            let list = at.get_mut(key).and_then(Value::as_array_mut).ok_or_else(|| format!("`{path}`: no list `{key}` here"))?;
            let position = match last {
                Segment::Index(_, i) => (*i < list.len()).then_some(*i),
                Segment::Select(_, f, want) => list.iter().position(|item| item.get(f).is_some_and(|x| matches_text(x, want))),
                Segment::Key(_) => None,
            };
            let i = position.ok_or_else(|| format!("`{path}`: no such item of `{key}` to remove"))?;
            list.remove(i);
            Ok(())
        }
        _ => Err("an edit is `{set: PATH, value: VALUE}` or `{remove: PATH}`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn world() -> Value {
        json!({"aws": {"region": "x", "roles": [{"name": "a"}, {"name": "b", "path": "/"}]}, "gcp": {"service_accounts": [{"email": "sa@p.iam.gserviceaccount.com", "default": true}]}})
    }

    fn edit(v: Value) -> WorldEdit {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn set_reaches_keys_indexes_and_selected_items_and_creates_the_last_key() {
        let mut w = world();
        apply(&mut w, &edit(json!({"set": "aws.roles[name=b].path", "value": "/ci/"}))).unwrap();
        apply(&mut w, &edit(json!({"set": "aws.roles[0].max_session_duration", "value": 7200}))).unwrap();
        apply(&mut w, &edit(json!({"set": "aws.accounts", "value": [{"account_id": "210987654321"}]}))).unwrap();
        apply(&mut w, &edit(json!({"remove": "gcp.service_accounts[email=sa@p.iam.gserviceaccount.com].default"}))).unwrap();
        apply(&mut w, &edit(json!({"remove": "aws.roles[name=a]"}))).unwrap();
        assert_eq!(w["aws"]["roles"].as_array().unwrap().len(), 1);
        assert_eq!(w["aws"]["roles"][0]["path"], "/ci/");
        assert_eq!(w["aws"]["accounts"][0]["account_id"], "210987654321");
        assert!(w["gcp"]["service_accounts"][0].get("default").is_none());
    }

    #[test]
    fn a_path_that_leads_nowhere_is_an_error_naming_it() {
        let mut w = world();
        let e = apply(&mut w, &edit(json!({"set": "aws.roles[name=c].path", "value": "/"}))).unwrap_err();
        assert_eq!((e.path.as_str(), e.to_string().as_str()), ("aws.roles[name=c].path", "`aws.roles[name=c].path`: no item of `roles` with name = c"));
        assert!(apply(&mut w, &edit(json!({"set": "aws.role[0].path", "value": "/"}))).unwrap_err().message.contains("no `role` here"));
        assert!(apply(&mut w, &edit(json!({"remove": "aws.nothing"}))).unwrap_err().message.contains("no `nothing` to remove"));
        assert!(apply(&mut w, &edit(json!({"set": "aws.region"}))).is_err(), "set needs a value");
        assert_eq!(w, world(), "a failed edit changes nothing it did not reach");
    }
}
