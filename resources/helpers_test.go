package resources_test

import "strconv"

func userPathOf(id int64) string { return "/api/users/" + strconv.FormatInt(id, 10) }
