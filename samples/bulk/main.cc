// sample-bulk: many keys in one command (put_many / get_many / delete_many), one revision for
// all, with a result per item: a bad item fails alone.
#include "sample.h"

int main(int argc, char** argv) {
  using namespace dkv;
  samples::Sample s(argc, argv, "bulk", "MPUT / MGET / MDEL with per-item results");
  Client& db = s.store();
  std::vector<PutItem> items;
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) {
    keys.push_back(s.prefix() + "item/" + std::to_string(i));
    items.push_back(PutItem{keys.back(), "value " + std::to_string(i), {}});
  }
  items.push_back(PutItem{"", "an empty key is refused", {}});  // one bad item among them

  std::vector<Result<PutResult>> put = db.put_many(items);
  int written = 0;
  for (size_t i = 0; i + 1 < put.size(); ++i) written += put[i].ok() ? 1 : 0;
  s.say("put_many of 101 items: %d written, the empty key answered: %s", written,
        put.back().ok() ? "ok" : put.back().status().to_string().c_str());
  s.check(written == 100, "every good item was written");
  s.check(!put.back().ok() && put.back().status().code() == Code::kInvalidArgument, "the bad item failed on its own");
  if (!s.remote()) {  // the server replies each item's revision as the command's
    bool one_revision = true;
    for (int i = 1; i < 100; ++i) one_revision = one_revision && put[i].ok() && put[i]->revision == put[0]->revision;
    s.check(one_revision, "all items carry one revision: one atomic command");
  }

  std::vector<std::string> wanted = {keys[0], keys[50], keys[99], s.prefix() + "missing"};
  std::vector<Result<KeyValue>> got = db.get_many(wanted);
  s.say("get_many of 4 keys: %s, %s, %s, and a missing one: %s", got[0].ok() ? got[0]->value.c_str() : "?",
        got[1].ok() ? got[1]->value.c_str() : "?", got[2].ok() ? got[2]->value.c_str() : "?",
        got[3].ok() ? "found?!" : std::string(code_name(got[3].status().code())).c_str());
  s.check(got.size() == 4 && got[0].ok() && got[0]->value == "value 0" && got[2].ok() && got[2]->value == "value 99",
          "each key reads back its own value");
  s.check(got.size() == 4 && got[3].status().code() == Code::kNotFound, "the missing key is NOT_FOUND, alone");

  std::vector<std::string> doomed(keys.begin(), keys.begin() + 60);
  doomed.push_back(s.prefix() + "never-existed");
  std::vector<Result<DeleteResult>> deleted = db.delete_many(doomed);
  int removed = 0;
  for (const auto& d : deleted) removed += d.ok() && d->deleted ? 1 : 0;
  s.say("delete_many of 61 keys: %d deleted (one never existed)", removed);
  s.check(removed == 60, "60 deleted, the absent one reported as not deleted");
  s.check(samples::must(db.count(s.prefix() + "item/"), "count what is left") == 40, "40 keys are left");
  return s.finish();
}
