-- A table, not the folder's view: three models and a dozen tests read it, and regenerating ~15k
-- days with their windows on every read costs more than storing them.
{{ config(materialized='table') }}

-- NYSE trading calendar and standard monthly option expirations, generated from the rules (not
-- read from price data, so it also covers days after the last bar and never depends on a gap in a
-- vendor file).
--
-- Holidays: NYSE Rule 7.2 (New Year's Day, Martin Luther King Jr. Day from 1998, Washington's
-- Birthday, Good Friday, Memorial Day, Juneteenth from 2022, Independence Day, Labor Day,
-- Thanksgiving, Christmas). A holiday on a Sunday is observed on the Monday after, one on a
-- Saturday on the Friday before, except New Year's Day (the exchange stays open on 31 December,
-- the end of the accounting year). Unscheduled closures since 1990 are listed by hand below.
-- Easter (for Good Friday): the anonymous Gregorian algorithm, Meeus, Astronomical Algorithms,
-- 2nd ed., ch. 8.
-- Monthly expiration: the third Friday of the month; when that Friday is not a trading day, the
-- business day before it (Cboe SPX / OCC rule: in practice the Thursday, e.g. Good Friday
-- 2019-04-19 -> 2019-04-18). Before February 2015 standard options formally expired on the Saturday
-- after the third Friday; their last trading day, used here, was that Friday.
with

calendar_dates as (

    select
        cast(range as date) as calendar_date,
    from range(
        date '{{ var("calendar_start_date") }}',
        date '{{ var("calendar_end_date") }}' + interval 1 day,
        interval 1 day
    )

),

calendar_years as (

    select distinct
        year(calendar_dates.calendar_date) as calendar_year,
    from calendar_dates

),

-- Meeus (anonymous Gregorian algorithm): month and day of Easter Sunday.
easter_terms as (

    select
        calendar_years.calendar_year,
        calendar_years.calendar_year % 19 as a,
        calendar_years.calendar_year // 100 as b,
        calendar_years.calendar_year % 100 as c,
    from calendar_years

),

easter_terms_2 as (

    select
        easter_terms.*,
        (19 * easter_terms.a + easter_terms.b - easter_terms.b // 4
            - (easter_terms.b - (easter_terms.b + 8) // 25 + 1) // 3 + 15) % 30 as h,
        (32 + 2 * (easter_terms.b % 4) + 2 * (easter_terms.c // 4)
            - ((19 * easter_terms.a + easter_terms.b - easter_terms.b // 4
                - (easter_terms.b - (easter_terms.b + 8) // 25 + 1) // 3 + 15) % 30)
            - easter_terms.c % 4) % 7 as l,
    from easter_terms

),

easter_sundays as (

    select
        easter_terms_2.calendar_year,
        make_date(
            easter_terms_2.calendar_year,
            cast((easter_terms_2.h + easter_terms_2.l
                - 7 * ((easter_terms_2.a + 11 * easter_terms_2.h + 22 * easter_terms_2.l) // 451)
                + 114) // 31 as integer),
            cast((easter_terms_2.h + easter_terms_2.l
                - 7 * ((easter_terms_2.a + 11 * easter_terms_2.h + 22 * easter_terms_2.l) // 451)
                + 114) % 31 + 1 as integer)
        ) as easter_sunday,
    from easter_terms_2

),

-- nth weekday of a month: the first of the month moved forward to the weekday, plus whole weeks
-- (ISO weekdays: 1 = Monday ... 7 = Sunday).
holiday_rules as (

    select
        calendar_years.calendar_year,
        make_date(calendar_years.calendar_year, 1, 1) as new_years_day,
        make_date(calendar_years.calendar_year, 1, 1)
            + cast((8 - isodow(make_date(calendar_years.calendar_year, 1, 1))) % 7 + 14 as integer)
            as martin_luther_king_day,
        make_date(calendar_years.calendar_year, 2, 1)
            + cast((8 - isodow(make_date(calendar_years.calendar_year, 2, 1))) % 7 + 14 as integer)
            as washingtons_birthday,
        easter_sundays.easter_sunday - 2 as good_friday,
        make_date(calendar_years.calendar_year, 5, 31)
            - cast((isodow(make_date(calendar_years.calendar_year, 5, 31)) + 6) % 7 as integer)
            as memorial_day,
        make_date(calendar_years.calendar_year, 6, 19) as juneteenth,
        make_date(calendar_years.calendar_year, 7, 4) as independence_day,
        make_date(calendar_years.calendar_year, 9, 1)
            + cast((8 - isodow(make_date(calendar_years.calendar_year, 9, 1))) % 7 as integer)
            as labor_day,
        make_date(calendar_years.calendar_year, 11, 1)
            + cast((11 - isodow(make_date(calendar_years.calendar_year, 11, 1))) % 7 + 21 as integer)
            as thanksgiving_day,
        make_date(calendar_years.calendar_year, 12, 25) as christmas_day,
    from calendar_years
    inner join easter_sundays
        on calendar_years.calendar_year = easter_sundays.calendar_year

),

holidays_unpivoted as (

    unpivot holiday_rules
    on
        new_years_day,
        martin_luther_king_day,
        washingtons_birthday,
        good_friday,
        memorial_day,
        juneteenth,
        independence_day,
        labor_day,
        thanksgiving_day,
        christmas_day
    into
        name holiday_name
        value holiday_date

),

holidays_observed as (

    select
        holidays_unpivoted.holiday_name,
        case isodow(holidays_unpivoted.holiday_date)
            when 7 then holidays_unpivoted.holiday_date + 1
            when 6 then holidays_unpivoted.holiday_date - 1
            else holidays_unpivoted.holiday_date
        end as holiday_date,
    from holidays_unpivoted
    where
        not (
            holidays_unpivoted.holiday_name = 'martin_luther_king_day'
            and holidays_unpivoted.calendar_year < 1998
        )
        and not (
            holidays_unpivoted.holiday_name = 'juneteenth'
            and holidays_unpivoted.calendar_year < 2022
        )
        -- a Saturday New Year's Day is not observed on the Friday before (year-end exception)
        and not (
            holidays_unpivoted.holiday_name = 'new_years_day'
            and isodow(holidays_unpivoted.holiday_date) = 6
        )

),

-- Unscheduled full-day closures since 1990 (NYSE historical closings).
unscheduled_closures as (

    select
        unscheduled_closures.holiday_name,
        cast(unscheduled_closures.holiday_date as date) as holiday_date,
    from (
        values
            ('national_day_of_mourning_nixon', '1994-04-27'),
            ('september_11', '2001-09-11'),
            ('september_11', '2001-09-12'),
            ('september_11', '2001-09-13'),
            ('september_11', '2001-09-14'),
            ('national_day_of_mourning_reagan', '2004-06-11'),
            ('national_day_of_mourning_ford', '2007-01-02'),
            ('hurricane_sandy', '2012-10-29'),
            ('hurricane_sandy', '2012-10-30'),
            ('national_day_of_mourning_bush', '2018-12-05'),
            ('national_day_of_mourning_carter', '2025-01-09')
    ) as unscheduled_closures (holiday_name, holiday_date)

),

holidays as (

    select * from holidays_observed
    union all
    select * from unscheduled_closures

),

calendar_days_flagged as (

    select
        calendar_dates.calendar_date,
        isodow(calendar_dates.calendar_date) <= 5 and holidays.holiday_date is null as is_trading_day,
        holidays.holiday_name,
    from calendar_dates
    left join holidays
        on calendar_dates.calendar_date = holidays.holiday_date

),

-- The month's expiration: the last trading day on or before its third Friday (the first Friday on
-- or after the 15th).
month_fifteenths as (

    select distinct
        make_date(year(calendar_dates.calendar_date), month(calendar_dates.calendar_date), 15)
            as fifteenth_of_month,
    from calendar_dates

),

third_fridays as (

    select
        -- the first Friday (ISO 5) on or after the 15th
        month_fifteenths.fifteenth_of_month
            + cast((12 - isodow(month_fifteenths.fifteenth_of_month)) % 7 as integer) as third_friday,
    from month_fifteenths

),

monthly_expirations as (

    select
        third_fridays.third_friday,
        max(calendar_days_flagged.calendar_date) as monthly_expiration_date,
    from third_fridays
    inner join calendar_days_flagged
        on calendar_days_flagged.calendar_date <= third_fridays.third_friday
        and calendar_days_flagged.calendar_date > third_fridays.third_friday - 7
        and calendar_days_flagged.is_trading_day
    group by third_fridays.third_friday

),

calendar_days_with_expiration as (

    select
        calendar_days_flagged.*,
        monthly_expirations.monthly_expiration_date is not null as is_monthly_expiration,
    from calendar_days_flagged
    left join monthly_expirations
        on calendar_days_flagged.calendar_date = monthly_expirations.monthly_expiration_date

),

-- Distances forward: the calendar is known in advance, so these are not look-ahead.
calendar_days_with_distances as (

    select
        calendar_days_with_expiration.calendar_date,
        calendar_days_with_expiration.is_trading_day,
        calendar_days_with_expiration.holiday_name,
        calendar_days_with_expiration.is_monthly_expiration,
        min(calendar_days_with_expiration.calendar_date)
            filter (where calendar_days_with_expiration.is_monthly_expiration)
            over from_today_on as next_monthly_expiration_date,
        cast(last_day(calendar_days_with_expiration.calendar_date)
            - calendar_days_with_expiration.calendar_date as integer) as calendar_days_to_month_end,
        cast(count(*) filter (where calendar_days_with_expiration.is_trading_day) over (
            partition by date_trunc('month', calendar_days_with_expiration.calendar_date)
            order by calendar_days_with_expiration.calendar_date
            rows between 1 following and unbounded following
        ) as integer) as trading_days_to_month_end,
        -- running count of trading days, to count trading days between two dates by difference
        count(*) filter (where calendar_days_with_expiration.is_trading_day) over (
            order by calendar_days_with_expiration.calendar_date
            rows between unbounded preceding and current row
        ) as trading_day_number,
    from calendar_days_with_expiration
    window from_today_on as (
        order by calendar_days_with_expiration.calendar_date
        rows between current row and unbounded following
    )

),

final as (

    select
        calendar_days_with_distances.calendar_date,
        calendar_days_with_distances.is_trading_day,
        calendar_days_with_distances.holiday_name,
        cast(calendar_days_with_distances.trading_day_number as integer) as trading_day_number,
        calendar_days_with_distances.is_monthly_expiration,
        calendar_days_with_distances.next_monthly_expiration_date,
        cast(calendar_days_with_distances.next_monthly_expiration_date
            - calendar_days_with_distances.calendar_date as integer) as calendar_days_to_monthly_expiration,
        cast(expirations.trading_day_number - calendar_days_with_distances.trading_day_number as integer)
            as trading_days_to_monthly_expiration,
        calendar_days_with_distances.calendar_days_to_month_end,
        calendar_days_with_distances.trading_days_to_month_end,
    from calendar_days_with_distances
    left join calendar_days_with_distances as expirations
        on calendar_days_with_distances.next_monthly_expiration_date = expirations.calendar_date

)

select * from final
