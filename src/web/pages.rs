//! The page's HTML. Every value from the gateway or the browser goes through
//! [`escape`]; no script, so the Content-Security-Policy can forbid all of it.

use super::http::escape;

/// The stylesheet at `/style.css` (inline styles are refused by the page's CSP).
pub const STYLE: &str =
    "body{font-family:sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
pre{background:#f4f4f4;padding:.8em;overflow-x:auto}\
.error{color:#a00}form.inline{display:inline}\
input{font-size:1em;padding:.3em}button{font-size:1em;padding:.3em .8em}";

fn page(title: &str, hostname: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · loopstart {host}</title>\
         <link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body>\n\
         <h1>loopstart {host}</h1>\n{body}</body></html>\n",
        title = escape(title),
        host = escape(hostname),
    )
}

/// The login form; `error` says why the last try failed.
pub fn login(hostname: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" id=\"error\">{}</p>\n", escape(e)))
        .unwrap_or_default();
    page(
        "Log in",
        hostname,
        &format!(
            "{error}<form method=\"post\" action=\"/login\">\n\
             <label>Password <input type=\"password\" name=\"password\" autofocus \
             autocomplete=\"current-password\"></label>\n\
             <button type=\"submit\">Log in</button>\n</form>\n\
             <p>The password was made at first start: <code>loopstart web password</code> \
             on the box shows it.</p>\n"
        ),
    )
}

/// One section of the status page: a heading and an API command's answer.
pub struct Section<'a> {
    pub title: &'a str,
    pub command: &'a str,
    pub answer: Result<String, String>,
}

/// The status page: the gateway's own answers to a few API commands.
pub fn status(hostname: &str, sections: &[Section<'_>]) -> String {
    let mut body = String::from(
        "<form class=\"inline\" method=\"post\" action=\"/logout\">\
         <button type=\"submit\">Log out</button></form>\n",
    );
    for s in sections {
        body.push_str(&format!(
            "<h2>{}</h2>\n<p><code>{}</code></p>\n",
            escape(s.title),
            escape(s.command)
        ));
        match &s.answer {
            Ok(text) => body.push_str(&format!("<pre>{}</pre>\n", escape(text))),
            Err(e) => body.push_str(&format!("<p class=\"error\">{}</p>\n", escape(e))),
        }
    }
    page("Status", hostname, &body)
}

/// A refusal, as a page.
pub fn error(hostname: &str, title: &str, text: &str) -> String {
    page(
        title,
        hostname,
        &format!("<h2>{}</h2>\n<p>{}</p>\n", escape(title), escape(text)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_text_cannot_inject_markup() {
        let html = status(
            "gw<1>",
            &[Section {
                title: "Registrations",
                command: "show registrations",
                answer: Ok("1001,<script>alert(1)</script>".into()),
            }],
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("loopstart gw&lt;1&gt;"), "{html}");
        let html = login("gw", Some("wrong \"password\""));
        assert!(html.contains("wrong &quot;password&quot;"), "{html}");
    }
}
