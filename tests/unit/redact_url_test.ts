import { assertEquals } from "../support/assert.ts";
import { redactUrl, redactUrls } from "../../src/http.ts";

Deno.test("a URL's password is replaced by *** and the user name kept", () => {
  assertEquals(
    redactUrl("http://user:secret@127.0.0.1:8080/images/cloud/"),
    "http://user:***@127.0.0.1:8080/images/cloud/",
  );
});

Deno.test("a lone user name, which may be a token, is replaced by ***", () => {
  assertEquals(redactUrl("https://ghp_token@mirror.example/x"), "https://***@mirror.example/x");
});

Deno.test("a URL without credentials is returned exactly as given", () => {
  for (const url of ["https://cloud.debian.org/images/cloud/", "http://h/a@b", "not a url"]) {
    assertEquals(redactUrl(url), url);
  }
});

Deno.test("a string that does not parse as a URL still has its userinfo hidden", () => {
  assertEquals(redactUrl("http://user:secret@[bad/x"), "http://user:***@[bad/x");
  assertEquals(redactUrl("user:secret@host/x"), "user:***@host/x");
});

Deno.test("every URL in a message has its userinfo hidden", () => {
  assertEquals(
    redactUrls(
      "error sending request for url (http://u:pw@h/x): see https://tok@m/y, 'ftp://a:b@c'",
    ),
    "error sending request for url (http://u:***@h/x): see https://***@m/y, 'ftp://a:***@c'",
  );
});
