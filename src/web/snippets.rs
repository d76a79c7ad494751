//! "Load it" snippets: the same read in curl, pyarrow, polars, duckdb, pandas, pyarrow.flight
//! and Rust, with this server's public URL and the parameter values chosen on the page. Each is
//! a complete program (imports included) that runs as it is copied.

use std::collections::BTreeMap;

use super::url;

/// What a snippet needs to know.
pub struct Target<'a> {
    /// Public base URL (`http://host:port`, no trailing slash).
    pub base: &'a str,
    pub source: &'a str,
    /// Parameter values the caller chose (as text).
    pub params: &'a BTreeMap<String, String>,
    /// Whether the server needs a token (snippets then read it from `INLET_TOKEN`).
    pub auth: bool,
    /// `grpc://host:port` of the Flight listener, when Flight is on.
    pub flight: Option<&'a str>,
    /// Whether the data can be had as CSV (no nested columns).
    pub csv: bool,
}

pub struct Snippet {
    /// Stable id (`curl`, `pyarrow`, ...), used in element ids.
    pub id: &'static str,
    pub label: &'static str,
    pub code: String,
}

impl Target<'_> {
    /// The data URL with `extra` query pairs first, then `param.<name>=value`.
    pub fn data_url(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        pairs.extend(
            self.params
                .iter()
                .map(|(k, v)| (format!("param.{k}"), v.clone())),
        );
        format!(
            "{}/api/v1/sources/{}/data{}",
            self.base,
            url::segment(self.source),
            url::query(&pairs)
        )
    }
}

/// A Python string literal (JSON's escapes are Python's).
fn py(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A shell word in single quotes.
fn sh(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn snippets(t: &Target) -> Vec<Snippet> {
    let url = t.data_url(&[]);
    let csv_url = t.data_url(&[("format", "csv")]);
    let open = if t.auth {
        format!(
            "urllib.request.urlopen(urllib.request.Request({}, headers={{\"Authorization\": \"Bearer \" + os.environ[\"INLET_TOKEN\"]}}))",
            py(&url)
        )
    } else {
        format!("urllib.request.urlopen({})", py(&url))
    };
    let imports = |extra: &str| {
        let os = if t.auth { "os, " } else { "" };
        format!("import {os}{extra}urllib.request")
    };
    let mut out = vec![];
    let auth_header = if t.auth {
        " -H \"Authorization: Bearer $INLET_TOKEN\""
    } else {
        ""
    };
    let mut curl = format!(
        "curl -sf{auth_header} {} -o data.arrow   # Arrow IPC stream",
        sh(&url)
    );
    if t.csv {
        curl.push_str(&format!("\ncurl -sf{auth_header} {}   # CSV", sh(&csv_url)));
    } else {
        let ndjson = t.data_url(&[("format", "ndjson")]);
        curl.push_str(&format!(
            "\ncurl -sf{auth_header} {}   # NDJSON (nested columns: no CSV)",
            sh(&ndjson)
        ));
    }
    out.push(Snippet {
        id: "curl",
        label: "curl",
        code: curl,
    });
    out.push(Snippet {
        id: "pyarrow",
        label: "pyarrow",
        code: format!(
            "{}\nimport pyarrow as pa\n\ntable = pa.ipc.open_stream({open}).read_all()\nprint(table)",
            imports("")
        ),
    });
    out.push(Snippet {
        id: "polars",
        label: "polars",
        code: format!(
            "{}\nimport polars as pl\n\ndf = pl.read_ipc_stream({open}.read())\nprint(df)",
            imports("")
        ),
    });
    out.push(Snippet {
        id: "duckdb",
        label: "DuckDB",
        code: format!(
            "{}\nimport duckdb\nimport pyarrow as pa\n\ntbl = pa.ipc.open_stream({open}).read_all()\ndf = duckdb.sql(\"SELECT * FROM tbl\").df()   # any SQL over `tbl`\nprint(df)",
            imports("")
        ),
    });
    out.push(Snippet {
        id: "pandas",
        label: "pandas",
        code: format!(
            "{}\nimport pyarrow as pa\n\ndf = pa.ipc.open_stream({open}).read_all().to_pandas()\nprint(df)",
            imports("")
        ),
    });
    if let Some(flight) = t.flight {
        out.push(Snippet {
            id: "flight",
            label: "pyarrow.flight",
            code: flight_snippet(t, flight),
        });
    }
    out.push(Snippet {
        id: "rust",
        label: "Rust",
        code: rust_snippet(t, &url),
    });
    out
}

fn flight_snippet(t: &Target, flight: &str) -> String {
    let descriptor = if t.params.is_empty() {
        format!("flight.FlightDescriptor.for_path({})", py(t.source))
    } else {
        // JSON of strings is also a Python dict literal.
        let cmd = serde_json::json!({"source": t.source, "params": t.params});
        format!("flight.FlightDescriptor.for_command(json.dumps({cmd}))")
    };
    let json_import = if t.params.is_empty() { "" } else { "json, " };
    let os_import = if t.auth { "os, " } else { "" };
    let (options_line, opt) = if t.auth {
        (
            "options = flight.FlightCallOptions(headers=[(b\"authorization\", (\"Bearer \" + os.environ[\"INLET_TOKEN\"]).encode())])\n",
            ", options",
        )
    } else {
        ("", "")
    };
    format!(
        "import {json_import}{os_import}pyarrow as pa\nimport pyarrow.flight as flight\n\nclient = flight.connect({})\n{options_line}info = client.get_flight_info({descriptor}{opt})\ntable = pa.concat_tables([client.do_get(e.ticket{opt}).read_all() for e in info.endpoints])\nprint(table)",
        py(flight)
    )
}

fn rust_snippet(t: &Target, url: &str) -> String {
    let get = if t.auth {
        format!(
            "reqwest::blocking::Client::new()\n        .get({url:?})\n        .bearer_auth(std::env::var(\"INLET_TOKEN\")?)\n        .send()?\n        .error_for_status()?"
        )
    } else {
        format!("reqwest::blocking::get({url:?})?.error_for_status()?")
    };
    format!(
        "// Cargo.toml: arrow-ipc = \"60\", reqwest = {{ version = \"0.13\", features = [\"blocking\"] }}\nfn main() -> Result<(), Box<dyn std::error::Error>> {{\n    let response = {get};\n    let reader = arrow_ipc::reader::StreamReader::try_new(response, None)?;\n    for batch in reader {{\n        let batch = batch?;\n        println!(\"{{}} rows\", batch.num_rows());\n    }}\n    Ok(())\n}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_carry_the_url_parameters_and_token() {
        let params = BTreeMap::from([("month".to_string(), "2".to_string())]);
        let t = Target {
            base: "http://127.0.0.1:9",
            source: "example.trips_monthly",
            params: &params,
            auth: false,
            flight: Some("grpc://127.0.0.1:8815"),
            csv: true,
        };
        let all = snippets(&t);
        let ids: Vec<&str> = all.iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            ["curl", "pyarrow", "polars", "duckdb", "pandas", "flight", "rust"]
        );
        let url = "http://127.0.0.1:9/api/v1/sources/example.trips_monthly/data?param.month=2";
        assert!(
            all[1].code.contains(&format!("\"{url}\"")),
            "{}",
            all[1].code
        );
        assert!(
            all[0].code.contains("format=csv&param.month=2"),
            "{}",
            all[0].code
        );
        assert!(
            all[5].code.contains(
                r#"json.dumps({"source":"example.trips_monthly","params":{"month":"2"}})"#
            ),
            "{}",
            all[5].code
        );
        assert!(!all[1].code.contains("INLET_TOKEN"));
        let nested = Target { csv: false, ..t };
        assert!(!snippets(&nested)[0].code.contains("format=csv"));
        assert!(snippets(&nested)[0].code.contains("format=ndjson"));
        let authed = Target {
            auth: true,
            flight: None,
            ..t
        };
        let all = snippets(&authed);
        assert!(all.iter().all(|s| s.code.contains("INLET_TOKEN")));
        assert!(all.iter().all(|s| s.id != "flight"));
        assert!(all[1].code.starts_with("import os, urllib.request"));
    }

    #[test]
    fn quoting_survives_awkward_names() {
        assert_eq!(sh("a'b"), r"'a'\''b'");
        assert_eq!(py("a\"b"), "\"a\\\"b\"");
    }
}
