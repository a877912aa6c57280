//! Tag chains: `!a.b(c,d)` is the chain of links `a` and `b(c,d)`.

/// One link of a tag chain: a name and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagLink {
    /// The name, without `!`.
    pub name: String,
    /// The arguments, as written (an argument may itself be a tag chain).
    pub args: Vec<String>,
}

/// Splits a tag (with or without the leading `!`) into its links; `None` if malformed.
pub fn parse_chain(tag: &str) -> Option<Vec<TagLink>> {
    let body = tag.strip_prefix('!').unwrap_or(tag);
    let mut links = Vec::new();
    let mut chars = body.char_indices().peekable();
    let mut name = String::new();
    loop {
        match chars.next() {
            None => {
                if name.is_empty() {
                    return None;
                }
                links.push(TagLink {
                    name,
                    args: Vec::new(),
                });
                return Some(links);
            }
            Some((_, '.')) => {
                if name.is_empty() {
                    return None;
                }
                links.push(TagLink {
                    name: std::mem::take(&mut name),
                    args: Vec::new(),
                });
            }
            Some((_, '(')) => {
                if name.is_empty() {
                    return None;
                }
                let mut args = Vec::new();
                let mut arg = String::new();
                let mut depth = 0usize;
                loop {
                    match chars.next()?.1 {
                        '(' => {
                            depth = depth.saturating_add(1);
                            arg.push('(');
                        }
                        ')' if depth == 0 => break,
                        ')' => {
                            depth = depth.saturating_sub(1);
                            arg.push(')');
                        }
                        ',' if depth == 0 => args.push(std::mem::take(&mut arg)),
                        c => arg.push(c),
                    }
                }
                args.push(arg);
                links.push(TagLink {
                    name: std::mem::take(&mut name),
                    args,
                });
                match chars.next() {
                    None => return Some(links),
                    Some((_, '.')) => {}
                    Some(_) => return None,
                }
            }
            Some((_, c)) if c.is_whitespace() || c == ')' => return None,
            Some((_, c)) => name.push(c),
        }
    }
}

/// Whether `tag` (with its `!`) is a well-formed chain.
pub fn is_valid_tag(tag: &str) -> bool {
    tag.starts_with('!') && parse_chain(tag).is_some()
}

/// Writes links back as a tag string with a leading `!`; `None` for an empty chain.
pub fn compose(links: &[TagLink]) -> Option<String> {
    if links.is_empty() {
        return None;
    }
    let mut out = String::from("!");
    for (i, link) in links.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(&link.name);
        if !link.args.is_empty() {
            out.push('(');
            out.push_str(&link.args.join(","));
            out.push(')');
        }
    }
    Some(out)
}

/// The tag without its first link named `name` (and its arguments); `None` if nothing is left.
pub fn remove_link(tag: &str, name: &str) -> Option<String> {
    let mut links = parse_chain(tag)?;
    if let Some(i) = links.iter().position(|l| l.name == name) {
        links.remove(i);
    }
    compose(&links)
}

/// The first link named `name`, if the tag has one.
pub fn find_link(tag: &str, name: &str) -> Option<TagLink> {
    parse_chain(tag)?.into_iter().find(|l| l.name == name)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // a failing test panics
mod tests {
    use super::*;

    #[test]
    fn chains_split_and_compose() {
        let links = parse_chain("!retag(tag1.tag2(a,b),x).strdiff(false)").unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].name, "retag");
        assert_eq!(links[0].args, ["tag1.tag2(a,b)", "x"]);
        assert_eq!(links[1].args, ["false"]);
        assert_eq!(
            compose(&links).unwrap(),
            "!retag(tag1.tag2(a,b),x).strdiff(false)"
        );
        assert_eq!(parse_chain("!a.b.c").unwrap().len(), 3);
        for bad in ["!", "!a..b", "!a(b", "!.a", "!a(b)c"] {
            assert!(parse_chain(bad).is_none(), "{bad}");
        }
        assert_eq!(remove_link("!a.b(x).c", "b").as_deref(), Some("!a.c"));
        assert_eq!(remove_link("!a", "a"), None);
    }
}
