//! A small XML writer for the query and rest-xml protocols' answers.

/// Writes elements into a string; text is escaped.
pub struct XmlWriter {
    out: String,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'` (and control characters as numeric references).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
}

impl XmlWriter {
    pub fn new() -> Self {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        Self { out }
    }

    pub fn open(&mut self, tag: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn open_ns(&mut self, tag: &str, ns: &str) {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str(" xmlns=\"");
        escape_into(&mut self.out, ns);
        self.out.push_str("\">");
    }

    pub fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    pub fn text(&mut self, text: &str) {
        escape_into(&mut self.out, text);
    }

    pub fn leaf(&mut self, tag: &str, text: &str) {
        self.open(tag);
        self.text(text);
        self.close(tag);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Implemented by generated output shapes of XML protocols: writes the members in order.
pub trait ToXml {
    fn write_members(&self, w: &mut XmlWriter);
}

macro_rules! scalar_to_xml {
    ($($t:ty),*) => {$(
        impl XmlScalar for $t {
            fn xml_text(&self) -> String { self.to_string() }
        }
    )*};
}

/// A scalar that prints as element text.
pub trait XmlScalar {
    fn xml_text(&self) -> String;
}

scalar_to_xml!(String, i32, i64, bool, f64);

impl XmlScalar for crate::types::Timestamp {
    fn xml_text(&self) -> String {
        self.iso8601()
    }
}

impl XmlScalar for crate::types::Blob {
    fn xml_text(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }
}
