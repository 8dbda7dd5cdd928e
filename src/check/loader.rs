//! Reads manifest files into a [`World`] and the list of objects to review.
//!
//! The files are the whole world: the grants, Secrets and ConfigMaps found in them are all that
//! exists. Multi-document YAML, JSON and `kind: List` are read; objects of other kinds are
//! skipped. Anything unreadable is an error that names the file and the document.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

use crate::engine::World;
use crate::model::{Gateway, Kind, ListenerSet, ObjectKey, ParseError, ReferenceGrant};
use crate::pki;

/// Manifests larger than this are refused rather than read into memory.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Where an object came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub path: String,
    /// 1-based document number within the file.
    pub document: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.path, self.document)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: String },
    #[error("{path}: not valid YAML or JSON: {message}")]
    Syntax { path: String, message: String },
    #[error("{source_at}: {message}")]
    Document { source_at: Source, message: String },
    #[error("{source_at}: {error}")]
    Object {
        source_at: Source,
        #[source]
        error: ParseError,
    },
}

/// Everything read from the inputs.
#[derive(Debug, Default)]
pub struct Manifests {
    pub world: World,
    /// The objects to review, in input order.
    pub gateways: Vec<Gateway>,
    pub listener_sets: Vec<ListenerSet>,
    pub grants: Vec<ReferenceGrant>,
    /// Objects of kinds refguard reads, for the summary line.
    pub objects_read: usize,
    /// Files read.
    pub files: usize,
}

/// Reads every path (file, directory or `-`) into one set of manifests. A file named twice,
/// directly or through a directory, is read once.
pub fn load(paths: &[PathBuf], default_namespace: &str) -> Result<Manifests, LoadError> {
    let mut manifests = Manifests::default();
    let mut seen = std::collections::HashSet::new();
    for path in paths {
        for file in expand(path)? {
            let identity = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            if file.as_os_str() != "-" && !seen.insert(identity) {
                continue;
            }
            let (name, text) = read_input(&file)?;
            manifests.files += 1;
            load_text(&mut manifests, &name, &text, default_namespace)?;
        }
    }
    Ok(manifests)
}

/// Reads one file's text into `manifests`.
pub fn load_text(
    manifests: &mut Manifests,
    path: &str,
    text: &str,
    default_namespace: &str,
) -> Result<(), LoadError> {
    for (source, document) in parse_documents(path, text)? {
        add_document(manifests, &source, document, default_namespace)?;
    }
    Ok(())
}

/// A path as given: `-` is standard input, a directory is searched recursively for .yaml,
/// .yml and .json files in name order. Links to directories inside it are not followed, so a
/// link cycle (or a link to `/`) cannot make the walk endless; links to files are read.
fn expand(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if path.as_os_str() == "-" || !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }

    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| io_error(&dir, source))?;
        for entry in entries {
            let entry = entry.map_err(|source| io_error(&dir, source))?;
            let file_type = entry.file_type().map_err(|source| io_error(&dir, source))?;
            let path = entry.path();
            if file_type.is_dir() {
                pending.push(path);
            } else if is_manifest(&path) && !(file_type.is_symlink() && path.is_dir()) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|extension| extension.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn io_error(path: &Path, source: std::io::Error) -> LoadError {
    LoadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads a file or standard input, refusing anything over [`MAX_FILE_BYTES`].
fn read_input(path: &Path) -> Result<(String, String), LoadError> {
    let name = if path.as_os_str() == "-" {
        "<stdin>".to_owned()
    } else {
        path.display().to_string()
    };

    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|source| io_error(path, source))?;

    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge { path: name });
    }
    let text = String::from_utf8(bytes).map_err(|_| LoadError::Syntax {
        path: name.clone(),
        message: "not UTF-8 text".to_owned(),
    })?;
    Ok((name, text))
}

/// Parses a file's documents, numbered from 1 in file order. JSON is YAML too, but a `.json`
/// file gets serde_json's more precise errors.
fn parse_documents(path: &str, text: &str) -> Result<Vec<(Source, Value)>, LoadError> {
    if path.ends_with(".json") {
        let value = serde_json::from_str::<Value>(text).map_err(|error| LoadError::Syntax {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
        return Ok(vec![(source(path, 1), value)]);
    }

    let mut documents = Vec::new();
    for (number, first_line, chunk) in split_documents(text) {
        let value =
            serde_saphyr::from_str::<Value>(chunk).map_err(|error| LoadError::Document {
                source_at: source(path, number),
                message: format!(
                    "not valid YAML (from line {first_line}): {}",
                    first_line_of(&error.to_string())
                ),
            })?;
        if !value.is_null() {
            documents.push((source(path, number), value));
        }
    }
    Ok(documents)
}

fn source(path: &str, document: usize) -> Source {
    Source {
        path: path.to_owned(),
        document,
    }
}

/// Splits YAML text at document markers (`---` at the start of a line), which YAML forbids
/// inside content, so the split is exact. Yields the document number, the 1-based line where
/// the document starts and its text; a blank preamble before the first marker is not counted.
fn split_documents(text: &str) -> Vec<(usize, usize, &str)> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;

    for (index, line) in text.split_inclusive('\n').enumerate() {
        let is_marker =
            line.starts_with("---") && line[3..].chars().next().is_none_or(char::is_whitespace);
        if is_marker {
            push_document(&mut documents, &text[start..offset], start_line);
            start = offset + 3;
            start_line = index + 1;
        }
        offset += line.len();
    }
    push_document(&mut documents, &text[start..], start_line);
    documents
}

fn push_document<'a>(documents: &mut Vec<(usize, usize, &'a str)>, chunk: &'a str, line: usize) {
    let blank = chunk
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'));
    if documents.is_empty() && blank {
        return;
    }
    documents.push((documents.len() + 1, line, chunk));
}

/// serde-saphyr errors carry a source snippet after the first line; the first line says it all.
fn first_line_of(message: &str) -> String {
    message.lines().next().unwrap_or(message).to_owned()
}

fn add_document(
    manifests: &mut Manifests,
    source: &Source,
    document: Value,
    default_namespace: &str,
) -> Result<(), LoadError> {
    let Value::Object(map) = &document else {
        return Err(LoadError::Document {
            source_at: source.clone(),
            message: "not a Kubernetes object (expected a mapping with apiVersion and kind)"
                .to_owned(),
        });
    };

    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind_name = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind_name.ends_with("List") {
        return add_list(manifests, source, map.get("items"), default_namespace);
    }
    let Some(kind) = Kind::from_api_version(api_version, kind_name) else {
        return Ok(());
    };

    manifests.objects_read += 1;
    add_object(manifests, kind, &document, default_namespace).map_err(|error| LoadError::Object {
        source_at: source.clone(),
        error,
    })
}

fn add_list(
    manifests: &mut Manifests,
    source: &Source,
    items: Option<&Value>,
    default_namespace: &str,
) -> Result<(), LoadError> {
    let items = match items {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(LoadError::Document {
                source_at: source.clone(),
                message: "a List whose items is not a sequence".to_owned(),
            })
        }
    };
    for item in items {
        add_document(manifests, source, item.clone(), default_namespace)?;
    }
    Ok(())
}

fn add_object(
    manifests: &mut Manifests,
    kind: Kind,
    value: &Value,
    default_namespace: &str,
) -> Result<(), ParseError> {
    match kind {
        Kind::Gateway => {
            let gateway = Gateway::from_value(value, default_namespace)?;
            manifests.world.upsert_gateway(gateway.clone());
            manifests.gateways.push(gateway);
        }
        Kind::ListenerSet | Kind::XListenerSet => {
            let set = ListenerSet::from_value(value, kind, default_namespace)?;
            manifests.world.upsert_listener_set(set.clone());
            manifests.listener_sets.push(set);
        }
        Kind::ReferenceGrant => {
            let grant = ReferenceGrant::from_value(value, default_namespace)?;
            manifests.world.upsert_grant(grant.clone());
            manifests.grants.push(grant);
        }
        Kind::Secret => add_secret(manifests, value, default_namespace)?,
        Kind::ConfigMap => add_config_map(manifests, value, default_namespace)?,
    }
    Ok(())
}

/// Secrets carry base64 `data` and plain `stringData`; the API server merges the two, with
/// `stringData` winning, and so do we. Undecodable base64 reads as empty data, which the rules
/// report as missing.
fn add_secret(
    manifests: &mut Manifests,
    value: &Value,
    default_namespace: &str,
) -> Result<(), ParseError> {
    let key = object_key(value, "Secret", default_namespace)?;
    let secret_type = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("Opaque");

    let mut data: Vec<(String, Vec<u8>)> = string_map(value.get("data"))
        .map(|(name, encoded)| {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_default();
            (name.to_owned(), decoded)
        })
        .collect();
    for (name, text) in string_map(value.get("stringData")) {
        data.retain(|(existing, _)| existing != name);
        data.push((name.to_owned(), text.as_bytes().to_vec()));
    }

    let facts = pki::secret_facts(
        secret_type,
        data.iter()
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice())),
    );
    manifests.world.upsert_secret(key, facts);
    Ok(())
}

fn add_config_map(
    manifests: &mut Manifests,
    value: &Value,
    default_namespace: &str,
) -> Result<(), ParseError> {
    let key = object_key(value, "ConfigMap", default_namespace)?;
    let facts = pki::config_map_facts(string_map(value.get("data")));
    manifests.world.upsert_config_map(key, facts);
    Ok(())
}

fn object_key(
    value: &Value,
    kind: &'static str,
    default_namespace: &str,
) -> Result<ObjectKey, ParseError> {
    let name = value.pointer("/metadata/name").and_then(Value::as_str);
    let Some(name) = name.filter(|name| !name.is_empty()) else {
        return Err(ParseError::MissingName { kind });
    };
    let namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_namespace);
    Ok(ObjectKey::new(namespace, name))
}

/// The string entries of a `data`-like map; other values are skipped.
fn string_map(value: Option<&Value>) -> impl Iterator<Item = (&str, &str)> {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.as_str(), value.as_str()?)))
}
