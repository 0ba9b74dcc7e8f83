// Routes and their handlers. Handlers do the work on the library's worker threads; a slide is
// read through its one Slide (and tile cache), a tile's bytes are kept in a TileBytesCache.
// Errors: a request that names nothing we serve is 404, a method other than GET/HEAD 405, a
// missing or wrong token 401; a slide or CSV that fails to read is 500 with one line saying why
// (also printed on stderr), never a crash.
#include "serve/server.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>

#include "base/error.h"
#include "base/interrupt.h"
#include "serve/access.h"
#include "serve/connection_guard.h"
#include "serve/overlays.h"
#include "serve/tile_bytes_cache.h"
#include "serve/web_files.h"
#include "slide/reader/image_io.h"
#include "slide/reader/jpeg_encode.h"

namespace ds {

namespace {

// `text` with every path in it cut to its last component ("/data/x/s.tif: ..." -> "s.tif: ..."):
// error messages name files as the server knows them, and a client need not learn its folders.
std::string without_folders(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const size_t end = text.find_first_of(" \t'\"(),;", i);
    const size_t stop = end == std::string::npos ? text.size() : end;
    std::string word = text.substr(i, stop - i);
    // (a trailing ':' stays after the name)
    const bool colon = !word.empty() && word.back() == ':';
    if (colon) word.pop_back();
    if (const size_t slash = word.rfind('/'); slash != std::string::npos && slash + 1 < word.size())
      word = word.substr(slash + 1);
    out += word + (colon ? ":" : "");
    if (stop < text.size()) out += text[stop];
    i = stop + 1;
  }
  return out;
}

constexpr const char* kId = "([A-Za-z0-9._-]{1,64})";

const char* content_type(std::string_view name) {
  auto ends = [&](std::string_view e) { return name.size() >= e.size() && name.substr(name.size() - e.size()) == e; };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  return "text/plain; charset=utf-8";
}

void send_text(httplib::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(text + "\n", "text/plain; charset=utf-8");
}

int64_t to_int(const std::string& s) {  // the patterns allow only digits, at most 10 of them
  int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

class Handlers {
 public:
  Handlers(const Catalog& c, const ServeOptions& o) : c_(c), o_(o), tiles_(o.tile_cache_bytes) {}
  void install(httplib::Server& svr);
  // The port listened on: the token cookie is named after it (token_cookie_name), since browsers
  // send a host's cookies to every port of it and two servers would otherwise overwrite each other's.
  void set_port(int port) { cookie_ = token_cookie_name(port); }

 private:
  httplib::Server::HandlerResponse gate(const httplib::Request& req, httplib::Response& res) const;
  void tile(const httplib::Request& req, httplib::Response& res);
  void json(httplib::Response& res, const std::string& id, const std::string& what);
  const ServedSlide* slide_or_404(const std::string& id, httplib::Response& res) const;
  std::shared_ptr<const std::string> overlay_text(const ServedSlide& s, const std::string& what);

  const Catalog& c_;
  const ServeOptions& o_;
  TileBytesCache tiles_;
  std::mutex overlay_mu_;
  // "<id>/<what>" -> (overlay_sources_stamp, JSON text): remade when its files change.
  std::map<std::string, std::pair<std::string, std::shared_ptr<const std::string>>> overlays_;
  std::string cookie_ = token_cookie_name(0);
};

httplib::Server::HandlerResponse Handlers::gate(const httplib::Request& req, httplib::Response& res) const {
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header(
      "Content-Security-Policy",
      "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
  if (req.method != "GET" && req.method != "HEAD") {
    send_text(res, 405, "only GET and HEAD are served");
    res.set_header("Connection", "close");  // its body, if any, is never read: not a next request
    return httplib::Server::HandlerResponse::Handled;
  }
  // No endpoint takes a body, and the server never reads one: its bytes would be parsed as the
  // next request on the connection (a proxy in front could then hand one user's answer to another).
  if (req.has_header("Transfer-Encoding") ||
      (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0")) {
    send_text(res, 400, "requests with a body are not served");
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  }
  // One byte range at most: several would each copy the reply into one multipart answer in memory
  // (2,600 ranges of a 134 KB tile: 360 MB).
  if (req.ranges.size() > 1) {
    // (httplib would apply the ranges to this answer too: they are dropped from the request it owns.)
    const_cast<httplib::Request&>(req).ranges.clear();
    send_text(res, 416, "one byte range per request at most");
    return httplib::Server::HandlerResponse::Handled;
  }
  if (o_.token.empty()) return httplib::Server::HandlerResponse::Unhandled;
  const std::string auth = req.get_header_value("Authorization");
  const bool bearer = auth.rfind("Bearer ", 0) == 0 && token_matches(auth.substr(7), o_.token);
  const bool cookie = token_matches(cookie_value(req.get_header_value("Cookie"), cookie_), o_.token);
  const bool param = req.has_param("token") && token_matches(req.get_param_value("token"), o_.token);
  if (param) res.set_header("Set-Cookie", cookie_ + "=" + o_.token + "; Path=/; HttpOnly; SameSite=Strict");
  if (bearer || cookie || param) return httplib::Server::HandlerResponse::Unhandled;
  send_text(res, 401, "a token is required: open the URL deepslide serve printed (with ?token=...)");
  return httplib::Server::HandlerResponse::Handled;
}

const ServedSlide* Handlers::slide_or_404(const std::string& id, httplib::Response& res) const {
  const ServedSlide* s = c_.find(id);
  if (!s) send_text(res, 404, "no slide '" + id + "'");
  return s;
}

void Handlers::tile(const httplib::Request& req, httplib::Response& res) {
  const ServedSlide* s = slide_or_404(req.matches[1], res);
  if (!s) return;
  const int64_t level = to_int(req.matches[2]), col = to_int(req.matches[3]), row = to_int(req.matches[4]);
  const std::string fmt = req.matches[5];
  if (level >= s->dz.level_count() || !s->dz.has_tile((int)level, col, row)) {
    send_text(res, 404,
              "no tile " + std::to_string(col) + "_" + std::to_string(row) + " at level " + std::to_string(level) +
                  " of '" + s->id + "'");
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string key =
      s->id + "/" + std::to_string(level) + "/" + std::to_string(col) + "_" + std::to_string(row) + "." + fmt;
  TileBytesCache::Bytes bytes = tiles_.get(key);
  if (!bytes) {
    const RgbImage img = render_deep_zoom_tile(*s->slide, s->dz, (int)level, col, row);
    std::vector<uint8_t> enc = fmt == "png" ? encode_png(img) : encode_jpeg_turbo(img, o_.jpeg_quality);
    bytes = std::make_shared<const std::string>(enc.begin(), enc.end());
    tiles_.put(key, bytes);
  }
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  res.set_header("Server-Timing", "tile;dur=" + std::to_string(us / 1000.0));
  res.set_header("Cache-Control", "private, max-age=3600");
  res.set_content(bytes->data(), bytes->size(), fmt == "png" ? "image/png" : "image/jpeg");
}

std::shared_ptr<const std::string> Handlers::overlay_text(const ServedSlide& s, const std::string& what) {
  const std::string key = s.id + "/" + what;
  const std::string stamp = overlay_sources_stamp(s, what);
  {
    std::lock_guard<std::mutex> lock(overlay_mu_);
    auto it = overlays_.find(key);
    if (it != overlays_.end() && it->second.first == stamp) return it->second.second;
  }
  const nlohmann::json j = what == "predictions" ? predictions_json(s) : annotations_geojson(s);
  auto text = std::make_shared<const std::string>(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  std::lock_guard<std::mutex> lock(overlay_mu_);
  overlays_[key] = {stamp, text};
  return text;
}

void Handlers::json(httplib::Response& res, const std::string& id, const std::string& what) {
  const ServedSlide* s = slide_or_404(id, res);
  if (!s) return;
  const auto text = overlay_text(*s, what);
  res.set_content(text->data(), text->size(), "application/json");
}

void Handlers::install(httplib::Server& svr) {
  svr.set_pre_routing_handler([this](const httplib::Request& q, httplib::Response& r) { return gate(q, r); });
  const std::string index(web_file("index.html"));
  svr.Get("/", [index](const httplib::Request&, httplib::Response& res) {
    res.set_content(index, "text/html; charset=utf-8");
  });
  svr.Get("/static/([A-Za-z0-9._-]{1,64})", [](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    for (const WebFile& f : web_files())
      if (f.name == name) return res.set_content(f.bytes.data(), f.bytes.size(), content_type(f.name));
    send_text(res, 404, "no file '" + name + "'");
  });
  svr.Get("/api/slides", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(slide_list_json(c_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                    "application/json");
  });
  svr.Get(std::string("/api/slides/") + kId + "/(predictions|annotations)",
          [this](const httplib::Request& req, httplib::Response& res) { json(res, req.matches[1], req.matches[2]); });
  svr.Get(std::string("/slides/") + kId + "\\.dzi", [this](const httplib::Request& req, httplib::Response& res) {
    if (const ServedSlide* s = slide_or_404(req.matches[1], res))
      res.set_content(s->dz.dzi_xml("jpeg"), "application/xml");
  });
  svr.Get(std::string("/slides/") + kId + "_files/([0-9]{1,3})/([0-9]{1,10})_([0-9]{1,10})\\.(jpeg|png)",
          [this](const httplib::Request& req, httplib::Response& res) { tile(req, res); });
  svr.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string why = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
    }
    std::fprintf(stderr, "deepslide serve: %s: %s\n", req.path.c_str(), why.c_str());
    send_text(res, 500, without_folders(why));  // the full message (with paths) stays on stderr
  });
  svr.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty())
      send_text(res, res.status,
                res.status == 404   ? "not found"
                : res.status == 414 ? "URL longer than 8 KB"
                                    : "bad request");
  });
}

}  // namespace

void run_server(const Catalog& catalog, const ServeOptions& o,
                const std::function<void(const std::string&)>& on_listening, const std::function<bool()>& stop) {
  check_bind_policy(o.bind, o.token);
  DS_CHECK_INPUT(o.port >= 0 && o.port <= 65535, "--port must be in [0, 65535]");
  DS_CHECK_INPUT(o.threads >= 1 && o.threads <= 256, "--serve-threads must be in [1, 256]");
  DS_CHECK_INPUT(o.request_timeout_s >= 1 && o.request_timeout_s <= 3600, "--request-timeout must be in [1, 3600]");
  httplib::Server svr;
  const size_t threads = (size_t)o.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(64 * 1024);  // no endpoint takes a body
  svr.set_tcp_nodelay(true);              // a tile is one write: no 40 ms wait for a delayed ACK
  svr.set_read_timeout(10, 0);
  svr.set_keep_alive_max_count(1000);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second server on a port
  // in use starts anyway and the kernel shares the connections between the two.
  svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  Handlers h(catalog, o);
  h.install(svr);
  int port = o.port;
  if (port == 0) port = svr.bind_to_any_port(o.bind);
  else if (!svr.bind_to_port(o.bind, port)) port = -1;
  if (port <= 0)
    throw InputError(o.bind + ":" + std::to_string(o.port),
                     "cannot listen there (in use, or not an address of this machine)");
  h.set_port(port);
  const ConnectionGuard guard(o.request_timeout_s, port);
  install_stop_handlers();
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      const bool signalled = stop_signal() != 0;
      if (signalled || (stop && stop())) {
        svr.stop();
        // listen returns once every worker is free, and a client that keeps sending (slowly)
        // holds its worker: on SIGINT/SIGTERM the process ends after a grace period anyway
        // (nothing is being written; the caller's own stop() is left to wait).
        for (int i = 0; signalled && i < 20 && !done.load(); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (signalled && !done.load()) {
          std::fflush(nullptr);
          std::_Exit(0);
        }
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  const std::string host = o.bind.find(':') != std::string::npos ? "[" + o.bind + "]" : o.bind;
  on_listening("http://" + host + ":" + std::to_string(port) + "/" + (o.token.empty() ? "" : "?token=" + o.token));
  svr.listen_after_bind();
  done = true;
  watcher.join();
}

}  // namespace ds
