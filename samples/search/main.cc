// sample-search: label-indexed queries over one entity: equality, numeric range, AND, prefix,
// order by a label, limit, projection, and paging with a cursor.
#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "search", "label queries: eq, range, AND, prefix, order by, limit, projection, paging");
  Client& db = s.store();
  // The entity name is unique to this run, so other runs' products do not show up.
  const std::string entity = "product-" + s.run_id();
  struct Product {
    const char* sku;
    const char* category;
    int price;
    const char* brand;
  };
  const Product products[] = {{"p01", "books", 12, "acme"},  {"p02", "books", 30, "zenith"}, {"p03", "toys", 25, "acme"},
                              {"p04", "toys", 8, "acme"},    {"p05", "games", 60, "zenith"}, {"p06", "books", 45, "acme"},
                              {"p07", "games", 15, "acme"},  {"p08", "toys", 99, "zenith"},  {"p09", "books", 5, "acorn"},
                              {"p10", "games", 35, "acme"}};
  for (const Product& p : products) {
    samples::must(db.put(s.prefix() + p.sku, std::string("{\"sku\":\"") + p.sku + "\"}",
                         {.entity = entity,
                          .content_type = "application/json",
                          .labels = {{"category", p.category}, {"price", std::to_string(p.price)}, {"brand", p.brand}}}),
                  "put a product");
  }
  auto skus = [&](const QueryResult& r) {
    std::string out;
    for (const KeyValue& kv : r.items) out += (out.empty() ? "" : " ") + kv.key.substr(s.prefix().size());
    return out;
  };

  QueryResult books = samples::must(db.query({.entity = entity, .where = {{"category", QueryOp::kEq, {"books"}}}}), "eq");
  s.say("category = books: %s", skus(books).c_str());
  s.check(skus(books) == "p01 p02 p06 p09", "equality finds the four books");

  QueryResult mid = samples::must(
      db.query({.entity = entity, .where = {{"price", QueryOp::kBetween, {"10", "40"}}}, .order_by = "price"}), "range");
  s.say("10 <= price <= 40, cheapest first: %s", skus(mid).c_str());
  s.check(skus(mid) == "p01 p07 p03 p02 p10", "a numeric range, ordered by price (numbers, not text)");

  QueryResult acme_cheap = samples::must(
      db.query({.entity = entity,
                .where = {{"brand", QueryOp::kEq, {"acme"}}, {"price", QueryOp::kLt, {"20"}}},
                .order_by = "price",
                .descending = true}),
      "and");
  s.say("brand = acme AND price < 20, dearest first: %s", skus(acme_cheap).c_str());
  s.check(skus(acme_cheap) == "p07 p01 p04", "AND of two clauses, descending");

  QueryResult ac = samples::must(db.query({.entity = entity, .where = {{"brand", QueryOp::kPrefix, {"ac"}}}, .count_only = true}),
                                 "prefix");
  s.check(ac.count == 7, "brand starting with 'ac' matches 7 (acme and acorn)");

  QueryResult top = samples::must(
      db.query({.entity = entity, .order_by = "price", .descending = true, .limit = 3, .select = {"price"}}), "top 3");
  s.say("the three dearest, price only: %s", skus(top).c_str());
  s.check(skus(top) == "p08 p05 p06", "order by, limit");
  s.check(!top.items.empty() && top.items[0].value.empty() && top.items[0].labels == Labels{{"price", "99"}},
          "projection returns only the selected label, no value");

  std::string pages, cursor;
  int page_count = 0;
  do {
    QueryResult page = samples::must(db.query({.entity = entity, .limit = 4, .cursor = cursor, .keys_only = true}), "page");
    pages += (pages.empty() ? "" : " | ") + skus(page);
    cursor = page.next_cursor;
    ++page_count;
  } while (!cursor.empty() && page_count < 10);
  s.say("every product, 4 to a page: %s", pages.c_str());
  s.check(page_count == 3 && pages == "p01 p02 p03 p04 | p05 p06 p07 p08 | p09 p10", "paging visits each product once");
  return s.finish();
}
