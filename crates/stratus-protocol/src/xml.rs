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

/// A parsed XML element: name (without namespace prefix), text and child elements.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XmlNode {
    pub name: String,
    pub text: String,
    pub children: Vec<XmlNode>,
}

/// Deepest nesting accepted from a client.
const MAX_DEPTH: usize = 64;

impl XmlNode {
    /// Parses a document and returns its root element.
    pub fn parse(input: &[u8]) -> Result<XmlNode, crate::AwsError> {
        use quick_xml::events::Event;
        let malformed = |detail: String| {
            crate::AwsError::new(
                "MalformedXML",
                400,
                format!(
                    "The XML you provided was not well-formed or did not validate against our published schema: {detail}"
                ),
            )
        };
        let mut reader = quick_xml::Reader::from_reader(input);
        reader.config_mut().trim_text(false);
        let mut stack: Vec<XmlNode> = Vec::new();
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e)) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(malformed("nesting too deep".into()));
                    }
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    stack.push(XmlNode {
                        name,
                        ..Default::default()
                    });
                }
                Ok(Event::Empty(e)) => {
                    let node = XmlNode {
                        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                        ..Default::default()
                    };
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                }
                Ok(Event::Text(t)) => {
                    if let Some(top) = stack.last_mut() {
                        let text = t.decode().map_err(|e| malformed(e.to_string()))?;
                        let text =
                            quick_xml::escape::unescape(&text).map_err(|e| malformed(e.to_string()))?;
                        top.text.push_str(&text);
                    }
                }
                Ok(Event::GeneralRef(r)) => {
                    if let Some(top) = stack.last_mut() {
                        let name = r.decode().map_err(|e| malformed(e.to_string()))?;
                        let entity = format!("&{name};");
                        let text =
                            quick_xml::escape::unescape(&entity).map_err(|e| malformed(e.to_string()))?;
                        top.text.push_str(&text);
                    }
                }
                Ok(Event::CData(t)) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&String::from_utf8_lossy(&t));
                    }
                }
                Ok(Event::End(_)) => {
                    let node = stack
                        .pop()
                        .ok_or_else(|| malformed("unbalanced end tag".into()))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                }
                Ok(Event::Eof) => return Err(malformed("unexpected end of document".into())),
                Ok(_) => {}
                Err(e) => return Err(malformed(e.to_string())),
            }
            buf.clear();
        }
    }

    pub fn child(&self, name: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a XmlNode> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Implemented by generated input shapes of XML protocols.
pub trait FromXml: Sized {
    fn from_xml(node: &XmlNode) -> Result<Self, crate::AwsError>;
}

/// A scalar read from element text.
pub trait XmlParse: Sized {
    fn parse_xml(text: &str) -> Option<Self>;
}

impl XmlParse for String {
    fn parse_xml(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
}

macro_rules! xml_number {
    ($($t:ty),*) => {$(
        impl XmlParse for $t {
            fn parse_xml(text: &str) -> Option<Self> {
                text.trim().parse().ok()
            }
        }
    )*};
}
xml_number!(i32, i64, f64, bool);

impl XmlParse for crate::types::Timestamp {
    fn parse_xml(text: &str) -> Option<Self> {
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| crate::types::Timestamp(t.unix_timestamp_nanos() as f64 / 1e9))
    }
}

impl XmlParse for crate::types::Blob {
    fn parse_xml(text: &str) -> Option<Self> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
            .map(crate::types::Blob)
    }
}

/// Reads a scalar child element; malformed text is the client's error.
pub fn scalar<T: XmlParse>(node: Option<&XmlNode>) -> Result<Option<T>, crate::AwsError> {
    match node {
        None => Ok(None),
        Some(n) => T::parse_xml(&n.text).map(Some).ok_or_else(|| {
            crate::AwsError::new(
                "MalformedXML",
                400,
                format!("Invalid value '{}' for element {}", n.text, n.name),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_escapes() {
        let n = XmlNode::parse(
            br#"<?xml version="1.0"?><A xmlns="urn:x"><B>1 &amp; 2</B><C/><L><m>x</m><m>y</m></L></A>"#,
        )
        .unwrap();
        assert_eq!(n.name, "A");
        assert_eq!(n.child("B").unwrap().text, "1 & 2");
        assert!(n.child("C").is_some());
        assert_eq!(n.child("L").unwrap().children_named("m").count(), 2);
        assert!(XmlNode::parse(b"<A><B></A>").is_err());
        assert!(XmlNode::parse(b"not xml").is_err());
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(XmlNode::parse(deep.as_bytes()).is_err());
        let mut w = XmlWriter::new();
        w.leaf("T", "<&>\"'");
        let back = XmlNode::parse(w.finish().as_bytes()).unwrap();
        assert_eq!(back.text, "<&>\"'");
    }
}
