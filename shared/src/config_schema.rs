//! A plugin configuration described as data: one static table of field descriptors per plugin,
//! from which both the JSON Schema (Kong's `config_schema` in `<filter>.meta.json`) and the
//! Markdown configuration reference are rendered, so the two cannot drift.
//!
//! The schemas are JSON Schema draft-04: Kong validates a filter's `config_schema` with
//! lua-resty-ljsonschema against the draft-04 meta-schema, and Kong's own filters declare it
//! (`"$schema": "http://json-schema.org/draft-04/schema#"`). So no `const`, `contains`,
//! `propertyNames`, `if`/`then` or boolean schemas here: `enum`, `anyOf` and `not` say the same.

use serde_json::{json, Map, Value};

/// The draft the schemas are written in.
pub const DRAFT: &str = "http://json-schema.org/draft-04/schema#";

/// One configuration field.
#[derive(Debug)]
pub struct Field {
    /// The JSON key.
    pub name: &'static str,
    /// What its value is.
    pub shape: Shape,
    /// Whether `null` reads as absent (Kong's `deck` exports unset fields as `null`).
    pub nullable: bool,
    /// Whether the field must be present (and not `null`).
    pub required: bool,
    /// The type as the reference shows it.
    pub type_name: &'static str,
    /// The default as the reference shows it (`""`: none).
    pub default: &'static str,
    /// An example value, as JSON.
    pub example: &'static str,
    /// The Kong plugin field this one mirrors (`""`: ours alone).
    pub kong: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// The value of a [`Field`].
#[derive(Debug)]
pub enum Shape {
    /// A value described by a schema fragment.
    Leaf(fn() -> Value),
    /// An object with its own fields.
    Object(&'static Object),
    /// An array of objects.
    ArrayOf(&'static Object),
}

/// An object: its fields (no others are allowed) and the rules across them.
#[derive(Debug)]
pub struct Object {
    /// The fields.
    pub fields: &'static [Field],
    /// Schemas the object must also satisfy (`allOf`): rules across its fields.
    pub constraints: fn() -> Vec<Value>,
    /// The rules across fields, as the reference states them (`""`: none).
    pub constraints_doc: &'static str,
}

/// No rules across fields.
pub fn no_constraints() -> Vec<Value> {
    Vec::new()
}

/// A value that the field accepts, or `null`.
fn or_null(schema: Value) -> Value {
    json!({ "anyOf": [{ "type": "null" }, schema] })
}

/// The schema of a field's value (with its description).
fn field_schema(field: &Field) -> Value {
    let mut schema = match field.shape {
        Shape::Leaf(leaf) => leaf(),
        Shape::Object(object) => object_schema(object),
        Shape::ArrayOf(object) => json!({ "type": "array", "items": object_schema(object) }),
    };
    if field.nullable {
        schema = or_null(schema);
    }
    if let Value::Object(map) = &mut schema {
        map.insert(
            "description".to_owned(),
            Value::String(field.doc.to_owned()),
        );
    }
    schema
}

/// The schema of an object: its fields, no others, and its rules across fields.
pub fn object_schema(object: &Object) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in object.fields {
        properties.insert(field.name.to_owned(), field_schema(field));
        if field.required {
            required.push(Value::String(field.name.to_owned()));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".to_owned(), json!("object"));
    schema.insert("properties".to_owned(), Value::Object(properties));
    schema.insert("additionalProperties".to_owned(), json!(false));
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    let constraints = (object.constraints)();
    if !constraints.is_empty() {
        schema.insert("allOf".to_owned(), Value::Array(constraints));
    }
    Value::Object(schema)
}

/// The whole schema of a plugin configuration.
pub fn root_schema(title: &str, description: &str, root: &Object) -> Value {
    let mut schema = object_schema(root);
    if let Value::Object(map) = &mut schema {
        map.insert("$schema".to_owned(), json!(DRAFT));
        map.insert("title".to_owned(), json!(title));
        map.insert("description".to_owned(), json!(description));
    }
    schema
}

/// A table cell: `|` and line breaks would break the row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// A cell holding code, or `—` when empty.
fn code_cell(text: &str) -> String {
    if text.is_empty() {
        "—".to_owned()
    } else {
        // A backtick inside would end the code span: use a longer fence.
        let fence = if text.contains('`') { "`` " } else { "`" };
        let close = if text.contains('`') { " ``" } else { "`" };
        cell(&format!("{fence}{text}{close}"))
    }
}

fn rows(object: &Object, prefix: &str, with_kong: bool, out: &mut String) {
    for field in object.fields {
        let path = format!("{prefix}{}", field.name);
        let mut doc = field.doc.to_owned();
        if field.required {
            doc.push_str(" Required.");
        }
        let kong = if field.kong.is_empty() {
            "—".to_owned()
        } else {
            code_cell(field.kong)
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |{} {} |\n",
            cell(&path),
            cell(field.type_name),
            code_cell(field.default),
            code_cell(field.example),
            if with_kong {
                format!(" {kong} |")
            } else {
                String::new()
            },
            cell(&doc),
        ));
        match field.shape {
            Shape::Leaf(_) => {}
            Shape::Object(inner) => rows(inner, &format!("{path}."), with_kong, out),
            Shape::ArrayOf(inner) => rows(inner, &format!("{path}[]."), with_kong, out),
        }
    }
}

fn constraint_notes(object: &Object, path: &str, out: &mut String) {
    if !object.constraints_doc.is_empty() {
        let at = if path.is_empty() {
            "At the top level".to_owned()
        } else {
            format!("In `{path}`")
        };
        out.push_str(&format!("- {at}: {}\n", object.constraints_doc));
    }
    for field in object.fields {
        let sub = if path.is_empty() {
            field.name.to_owned()
        } else {
            format!("{path}.{}", field.name)
        };
        match field.shape {
            Shape::Leaf(_) => {}
            Shape::Object(inner) => constraint_notes(inner, &sub, out),
            Shape::ArrayOf(inner) => constraint_notes(inner, &format!("{sub}[]"), out),
        }
    }
}

/// What a reference page holds besides the field table.
pub struct Reference<'a> {
    /// The page title.
    pub title: &'a str,
    /// Paragraphs before the table.
    pub intro: &'a str,
    /// Whether to show the "Kong field" column.
    pub kong_column: bool,
    /// Rules the plugin checks that JSON Schema cannot state, one a line.
    pub plugin_only: &'a [&'a str],
}

/// The Markdown reference of a plugin configuration.
pub fn reference_markdown(page: &Reference<'_>, root: &Object) -> String {
    let mut out = String::new();
    out.push_str(&format!("# {}\n\n", page.title));
    out.push_str(
        "<!-- Generated by `cargo xtask build` from the field table in `shared`; do not edit. -->\n\n",
    );
    out.push_str(page.intro.trim());
    out.push_str("\n\n## Fields\n\n");
    if page.kong_column {
        out.push_str("| Field | Type | Default | Example | Kong field | Description |\n");
        out.push_str("|---|---|---|---|---|---|\n");
    } else {
        out.push_str("| Field | Type | Default | Example | Description |\n");
        out.push_str("|---|---|---|---|---|\n");
    }
    rows(root, "", page.kong_column, &mut out);
    let mut notes = String::new();
    constraint_notes(root, "", &mut notes);
    if !notes.is_empty() {
        out.push_str("\n## Rules across fields (in the schema too)\n\n");
        out.push_str(&notes);
    }
    if !page.plugin_only.is_empty() {
        out.push_str("\n## Checked by the plugin only\n\n");
        out.push_str(
            "JSON Schema cannot state these; Kong accepts such a config, and the filter then \
             refuses it when it is configured (the error names the field).\n\n",
        );
        for rule in page.plugin_only {
            out.push_str(&format!("- {rule}\n"));
        }
    }
    out
}
