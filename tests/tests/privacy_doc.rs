//! docs/privacy.md ("What the server sees") names every `table.column` of every migration, for both
//! backends: a column added without saying what it reveals fails here.

use sallyport_e2e::workspace_root;

/// `(table, column)` of every CREATE TABLE and ALTER TABLE … ADD COLUMN in `sql`, under the name
/// the table has at the end (a table rebuilt as `x_new` and renamed to `x` is `x`).
fn columns(sql: &str) -> Vec<(String, String)> {
    let sql: String = sql.lines().map(|l| l.split("--").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = Vec::new();
    let upper = sql.to_uppercase();
    let mut at = 0;
    while let Some(found) = upper[at..].find("CREATE TABLE") {
        let start = at + found + "CREATE TABLE".len();
        let open = start + sql[start..].find('(').expect("a column list");
        let table = sql[start..open].split_whitespace().last().expect("a table name").trim_matches('"').to_owned();
        let (mut depth, mut part, mut end) = (0, String::new(), open + 1);
        for (i, ch) in sql[open + 1..].char_indices() {
            match ch {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = open + 1 + i;
                    out.extend(column_of(&table, &part));
                    break;
                }
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    out.extend(column_of(&table, &part));
                    part.clear();
                    continue;
                }
                _ => {}
            }
            part.push(ch);
        }
        at = end;
    }
    let mut renames = Vec::new();
    for line in sql.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 6 && words[0].eq_ignore_ascii_case("ALTER") && words[3].eq_ignore_ascii_case("ADD") {
            let column = if words[4].eq_ignore_ascii_case("COLUMN") { words[5..].join(" ") } else { words[4..].join(" ") };
            out.extend(column_of(words[2], &column));
        }
        if words.len() >= 6 && words[0].eq_ignore_ascii_case("ALTER") && words[3].eq_ignore_ascii_case("RENAME") && words[4].eq_ignore_ascii_case("TO") {
            renames.push((words[2].to_owned(), words[5].trim_end_matches(';').to_owned()));
        }
    }
    for (from, to) in renames {
        for (table, _) in out.iter_mut().filter(|(table, _)| *table == from) {
            table.clone_from(&to);
        }
    }
    out
}

fn column_of(table: &str, definition: &str) -> Option<(String, String)> {
    let first = definition.split_whitespace().next()?;
    let keyword = ["PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "CONSTRAINT"].iter().any(|k| first.eq_ignore_ascii_case(k));
    (!keyword).then(|| (table.to_owned(), first.trim_matches('"').to_owned()))
}

#[test]
fn privacy_doc_names_every_column_of_every_migration() {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/privacy.md")).expect("docs/privacy.md");
    let mut missing = Vec::new();
    let mut seen = 0;
    for backend in ["sqlite", "postgres"] {
        let dir = root.join("migrations").join(backend);
        let mut files: Vec<_> = std::fs::read_dir(&dir).expect("migrations").map(|e| e.unwrap().path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "sql")) {
            for (table, column) in columns(&std::fs::read_to_string(file).unwrap()) {
                seen += 1;
                let name = format!("`{table}.{column}`");
                if !doc.contains(&name) && !missing.contains(&name) {
                    missing.push(name);
                }
            }
        }
    }
    assert!(seen > 50, "the migrations were read ({seen} columns)");
    assert!(missing.is_empty(), "docs/privacy.md does not say what these columns reveal: {missing:?}");
}

#[test]
fn the_parser_reads_columns_and_skips_constraints() {
    let sql = "-- c\nCREATE TABLE t (\n a BLOB PRIMARY KEY, -- x, y\n b TEXT CHECK (b IN ('p', 'q')),\n PRIMARY KEY (a, b)\n) STRICT;\nALTER TABLE t ADD COLUMN c INTEGER;";
    assert_eq!(columns(sql), [("t", "a"), ("t", "b"), ("t", "c")].map(|(t, c)| (t.to_owned(), c.to_owned())));
    let rebuilt = "CREATE TABLE u_new (a TEXT, FOREIGN KEY (a) REFERENCES v (id));\nALTER TABLE u ADD UNIQUE (a);\nALTER TABLE u ADD FOREIGN KEY (a) REFERENCES v (id);\nALTER TABLE u_new RENAME TO u;";
    assert_eq!(columns(rebuilt), [("u".to_owned(), "a".to_owned())], "rebuilt tables by their final name; constraints are not columns");
}
