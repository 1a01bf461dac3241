/* Tests of JSON printing (json_print.c): exact numbers, escaping, and
 * allocation failure. */
#include "core.h"
#include "test.h"

static char *roundtrip(const char *text) {
  tm_base b = {0};
  cJSON *j = NULL;
  char *out = NULL;
  if (tm_json_parse(&b, text, "test", &j) == TM_OK) tm_json_print(&b, j, &out);
  cJSON_Delete(j);
  tm_base_free(&b);
  return out;
}

#define CHECK_ROUNDTRIP(in, expected)                                            \
  do {                                                                           \
    char *o_ = roundtrip(in);                                                    \
    CHECK_STR(o_, expected);                                                     \
    tm_free(o_);                                                                 \
  } while (0)

/* Regression: cJSON's printer kept 15 digits when "close enough". */
TEST(numbers_keep_full_precision) {
  CHECK_ROUNDTRIP("[0.30000000000000004]", "[0.30000000000000004]");
  CHECK_ROUNDTRIP("[9007199254740991]", "[9007199254740991]");
  CHECK_ROUNDTRIP("[1.7976931348623157e308]", "[1.7976931348623157e+308]");
  CHECK_ROUNDTRIP("[5e-324]", "[4.94065645841247e-324]");
  CHECK_ROUNDTRIP("[0,-0,1,-1,0.1,123456789]", "[0,-0,1,-1,0.1,123456789]");
}

TEST(strings_are_escaped) {
  CHECK_ROUNDTRIP("{\"a\\\"b\":\"x\\n\\t\\u0001\\\\\\/\\u00e9\"}",
                  "{\"a\\\"b\":\"x\\n\\t\\u0001\\\\/\xc3\xa9\"}");
  CHECK_ROUNDTRIP("[true,false,null,{},[]]", "[true,false,null,{},[]]");
}

static cJSON *big;
static char *printed;
static int print_big(void) {
  tm_base b = {0};
  int rc = tm_json_print(&b, big, &printed);
  tm_base_free(&b);
  return rc;
}

TEST(printing_survives_allocation_failure) {
  big = cJSON_CreateArray();
  for (int i = 0; i < 200; i++) cJSON_AddItemToArray(big, cJSON_CreateString("some text"));
  CHECK_OOM_SAFE(print_big(), tm_free(printed));
  cJSON_Delete(big);
}

int main(void) {
  test_init();
  RUN(numbers_keep_full_precision);
  RUN(strings_are_escaped);
  RUN(printing_survives_allocation_failure);
  return test_summary();
}
